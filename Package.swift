// swift-tools-version:6.0
import Foundation
import PackageDescription

// No Swift package dependencies: the tools parse their own arguments (see
// Sources/SecureChatCLI/OptionParser.swift for why), so a fresh clone builds offline.
// The C libraries. Release builds (what `make install` ships) link them statically: the dynamic
// loader's symbol binding for libcrypto alone took ≈ 1 ms of every run of a tool here, more than
// a third of age's whole start-up, and issue 2 asks for start-up within 1.5× of age's. The cost
// is that an OpenSSL security update needs a rebuild (`make install` again); docs/ says so.
// Debug and test builds link the shared libraries.
let staticLibraryDirectories = ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib"]
func staticArchive(_ name: String) -> String? {
  staticLibraryDirectories.map { "\($0)/lib\(name).a" }.first { FileManager.default.fileExists(atPath: $0) }
}
let cLibraries = ["crypto", "sodium", "deflate"]
let archives = cLibraries.compactMap(staticArchive)
let cLibraryLinkerSettings: [LinkerSetting] =
  archives.count == cLibraries.count
  ? cLibraries.map { .linkedLibrary($0, .when(configuration: .debug)) }
    + [.unsafeFlags(archives.flatMap { ["-Xlinker", $0] }, .when(configuration: .release))]
  : cLibraries.map { .linkedLibrary($0) }

let package = Package(
  name: "SecureChat",
  products: [
    .executable(name: "sc-keygen", targets: ["sc-keygen"]),
    .executable(name: "sc-seal", targets: ["sc-seal"]),
    .executable(name: "sc-open", targets: ["sc-open"]),
    .executable(name: "sc-handshake", targets: ["sc-handshake"]),
    .executable(name: "sc-logcheck", targets: ["sc-logcheck"]),
  ],
  targets: [
    // C libraries. Only SecureChatCrypto imports these.
    .systemLibrary(name: "COpenSSL", providers: [.apt(["libssl-dev"])]),
    .systemLibrary(name: "CSodium", providers: [.apt(["libsodium-dev"])]),
    .systemLibrary(name: "CDeflate", providers: [.apt(["libdeflate-dev"])]),
    // prctl(2) and setrlimit(2) for ProcessHardening: a header, nothing to link.
    .systemLibrary(name: "CProcess"),

    .target(
      name: "SecureChatCrypto", dependencies: ["COpenSSL", "CSodium", "CDeflate", "CProcess"],
      linkerSettings: cLibraryLinkerSettings),
    .target(name: "SecureChatProtocol", dependencies: ["SecureChatCrypto"]),
    .target(name: "SecureChatCLI", dependencies: ["SecureChatCrypto", "SecureChatProtocol"]),

    .executableTarget(name: "sc-keygen", dependencies: ["SecureChatCLI"]),
    .executableTarget(name: "sc-seal", dependencies: ["SecureChatCLI"]),
    .executableTarget(name: "sc-open", dependencies: ["SecureChatCLI"]),
    .executableTarget(name: "sc-handshake", dependencies: ["SecureChatCLI"]),
    .executableTarget(name: "sc-logcheck", dependencies: ["SecureChatCLI"]),
    // libFuzzer targets for every parser (`make fuzz`, docs/TESTING.md); built without
    // -sanitize=fuzzer it is a replay tool that runs a target over files. Not installed.
    .executableTarget(name: "sc-fuzz", dependencies: ["SecureChatCrypto", "SecureChatProtocol"]),

    .testTarget(
      name: "SecureChatTests",
      dependencies: ["SecureChatCrypto", "SecureChatProtocol", "SecureChatCLI"],
      resources: []
    ),
  ]
)
