import SecureChatCrypto
import SecureChatProtocol

#if canImport(Glibc)
  import Glibc
#endif

/// A peer's static key that this side refuses (unknown, changed, or not the one given): the
/// handshake sends the abort and the tool exits 1 with this error.
struct PeerRefused: Error {
  let error: ToolError
}

/// sc-handshake -i: whether the peer's static key is the one it should be (PROTOCOL.md §11.6),
/// from `--peer-key`, or pinned by name in a known-peers file (FORMATS.md §12.3), as ssh pins host
/// keys: a known name with the same key is accepted; with another key, refused loudly; an unknown
/// name is refused unless the user accepts it (`--accept-new`, or "yes" on the terminal), and
/// is then added to the file.
final class PeerPinning {
  enum Source {
    case given(PublicKey)
    case knownPeers(path: String, acceptNew: Bool)
    /// A responder's peers file (FORMATS.md §10): the entries that hold a public key, each the
    /// key of one peer who must authenticate with the entry's name. Nothing else is accepted.
    case peersFile(path: String, entries: [PeersFile.Entry])
  }

  let source: Source
  /// For the verification code shown with an unknown key.
  weak var handshake: Handshake?
  /// What to say once the handshake has succeeded.
  private(set) var report: [String] = []

  init(source: Source) {
    self.source = source
  }

  /// `$XDG_CONFIG_HOME/securechat/known_peers`, or `~/.config/securechat/known_peers`.
  static func defaultKnownPeersPath() -> String? {
    if let config = getenv("XDG_CONFIG_HOME").map({ String(cString: $0) }), config.hasPrefix("/") {
      return config + "/securechat/known_peers"
    }
    guard let home = getenv("HOME").map({ String(cString: $0) }), !home.isEmpty else { return nil }
    return home + "/.config/securechat/known_peers"
  }

  /// The entries of the known-peers file at `path`; none when it does not exist yet.
  static func load(_ path: String) throws -> [KnownPeers.Entry] {
    var info = stat()
    if stat(path, &info) != 0 && errno == ENOENT { return [] }
    let (buffer, count) = try SecretFileReader.read(path, maxSize: KnownPeers.maxSize, what: "known peers file")
    do {
      return try KnownPeers.parse(buffer.withUnsafeBytes { Array($0[0..<count]) })
    } catch let error as KnownPeers.ParseError {
      throw ToolError(
        "invalid known peers file \(path): \(error)", hints: ["each line is a name and a public key: bob scpub1…"])
    }
  }

  func check(_ key: PublicKey, _ nameBytes: [UInt8]) throws {
    let name = String(decoding: nameBytes, as: UTF8.self)
    report = ["peer key \(key.text) (\(key.fingerprint))"]
    switch source {
    case .given(let expected):
      guard key == expected else {
        throw refusal(
          "authentication failed: the peer's key is not the one given with --peer-key: it shows \(key.fingerprint),"
            + " not \(expected.fingerprint)",
          hints: ["someone else answered, or the key given is not the peer's; do not use this connection"])
      }
    case .peersFile(let path, let entries):
      guard let entry = entries.first(where: { $0.publicKey == key }) else {
        throw refusal(
          "authentication failed: peer '\(name)' shows the key \(key.fingerprint), which no entry of the peers file"
            + " \(path) holds",
          hints: [
            "if that is \(name)'s key (compare the fingerprint with \(name)), add it with:"
              + " sc-chat peers add \(name) HOST PORT \(key.text)"
          ])
      }
      guard entry.name == name else {
        throw refusal(
          "authentication failed: the peer proved the key of peers file entry '\(entry.peer)' (line \(entry.line))"
            + " but named itself '\(name)', not '\(entry.name)'",
          hints: ["the entry's last field is the name that peer must give"])
      }
      report.append("peers file entry '\(entry.peer)'")
    case .knownPeers(let path, let acceptNew):
      let entries = try Self.load(path)
      if let known = entries.first(where: { $0.name == name }) {
        guard known.key == key else {
          throw refusal(
            "authentication failed: the key of peer '\(name)' has changed: \(path) line \(known.line) has"
              + " \(known.key.fingerprint), the peer shows \(key.fingerprint)",
            hints: [
              "someone may be posing as \(name): do not use this connection",
              "if \(name) really has a new identity, check its fingerprint with \(name), then remove line"
                + " \(known.line) of \(path) and connect again with --accept-new",
            ])
        }
        return
      }
      guard acceptNew || askOnTerminal(name: name, key: key, path: path) else {
        let code = handshake?.verificationCode.map { ", verification code \($0)" } ?? ""
        throw refusal(
          "authentication failed: peer '\(name)' is not in the known peers file \(path)",
          hints: [
            "its key is \(key.text) (\(key.fingerprint)\(code))",
            "if that is \(name)'s key (compare the fingerprint with \(name)), connect again with --accept-new,"
              + " or add the line '\(name) \(key.text)' to \(path)",
          ])
      }
      try Self.append(name: name, key: key, to: path)
      report.append("added peer '\(name)' to the known peers file \(path)")
    }
  }

  private func refusal(_ message: String, hints: [String]) -> PeerRefused {
    PeerRefused(error: ToolError(message, hints: hints, status: .integrityFailure))
  }

  /// Asks on the controlling terminal, as ssh does for an unknown host key: standard input and
  /// output are the peer. No terminal: no.
  /// The question is asked only when standard error is that terminal too: a program that runs
  /// sc-handshake with its errors going elsewhere (sc-chat, a script) owns the terminal, and
  /// gets the refusal and its hints instead.
  private func askOnTerminal(name: String, key: PublicKey, path: String) -> Bool {
    guard isatty(STDERR_FILENO) == 1 else { return false }
    let raw = open("/dev/tty", O_RDWR | O_CLOEXEC)
    guard raw >= 0 else { return false }
    let terminal = FileDescriptor(rawValue: raw)
    defer { terminal.close() }
    let code = handshake?.verificationCode ?? "(not known yet)"
    let question = """
      sc-handshake: peer '\(name)' is not in the known peers file \(path)
      sc-handshake: its key is \(key.text)
      sc-handshake: fingerprint \(key.fingerprint), verification code \(code)
      Compare them with \(name). Accept this key for '\(name)' and remember it (yes/no)? 
      """
    guard (try? terminal.writeAll(Array(question.utf8))) != nil else { return false }
    var answer: [UInt8] = []
    var byte: UInt8 = 0
    while answer.count < 16 && read(raw, &byte, 1) == 1 && byte != UInt8(ascii: "\n") { answer.append(byte) }
    return String(decoding: answer, as: UTF8.self).trimmingCharacters(in: [" ", "\r", "\t"]).lowercased() == "yes"
  }

  /// Adds `name key` to the file: the whole file again, through a temporary file renamed into place
  /// (FORMATS.md §11.3), so that a crash leaves the old file or the new one. A missing directory is
  /// created, mode 0700.
  static func append(name: String, key: PublicKey, to path: String) throws {
    var old: [UInt8] = []
    var info = stat()
    if stat(path, &info) == 0 {
      let (buffer, count) = try SecretFileReader.read(path, maxSize: KnownPeers.maxSize, what: "known peers file")
      old = buffer.withUnsafeBytes { Array($0[0..<count]) }
      if let last = old.last, last != UInt8(ascii: "\n") { old.append(UInt8(ascii: "\n")) }
    } else if let slash = path.lastIndex(of: "/"), slash != path.startIndex {
      try makeDirectories(String(path[..<slash]))
    }
    let output = try OutputFile(path: path, mode: 0o600, what: "known peers file")
    try output.write(old + Array(KnownPeers.line(name: name, key: key).utf8))
    try output.commit()
  }

  private static func makeDirectories(_ directory: String) throws {
    var info = stat()
    if stat(directory, &info) == 0 { return }
    if let slash = directory.lastIndex(of: "/"), slash != directory.startIndex {
      try makeDirectories(String(directory[..<slash]))
    }
    guard mkdir(directory, 0o700) == 0 || errno == EEXIST else {
      throw ToolError.system("cannot create the directory \(directory)")
    }
  }
}
