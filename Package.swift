// swift-tools-version:6.0
import PackageDescription

// No Swift package dependencies: the tools parse their own arguments (see
// Sources/SecureChatCLI/OptionParser.swift for why), so a fresh clone builds offline.
let package = Package(
  name: "SecureChat",
  products: [
    .executable(name: "sc-keygen", targets: ["sc-keygen"]),
    .executable(name: "sc-seal", targets: ["sc-seal"]),
    .executable(name: "sc-open", targets: ["sc-open"]),
    .executable(name: "sc-handshake", targets: ["sc-handshake"]),
  ],
  targets: [
    // C libraries. Only SecureChatCrypto imports these.
    .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
    .systemLibrary(name: "CSodium", pkgConfig: "libsodium", providers: [.apt(["libsodium-dev"])]),
    .systemLibrary(name: "CDeflate", providers: [.apt(["libdeflate-dev"])]),

    .target(name: "SecureChatCrypto", dependencies: ["COpenSSL", "CSodium", "CDeflate"]),
    .target(name: "SecureChatProtocol", dependencies: ["SecureChatCrypto"]),
    .target(name: "SecureChatCLI", dependencies: ["SecureChatCrypto", "SecureChatProtocol"]),

    .executableTarget(name: "sc-keygen", dependencies: ["SecureChatCLI"]),
    .executableTarget(name: "sc-seal", dependencies: ["SecureChatCLI"]),
    .executableTarget(name: "sc-open", dependencies: ["SecureChatCLI"]),
    .executableTarget(name: "sc-handshake", dependencies: ["SecureChatCLI"]),

    .testTarget(
      name: "SecureChatTests",
      dependencies: ["SecureChatCrypto", "SecureChatProtocol", "SecureChatCLI"],
      resources: []
    ),
  ]
)
