/// The peers file (address book) of docs/FORMATS.md §10, sans I/O: bytes in, entries or an
/// error with its line number out.
///
///     securechat-peers-v1
///     # PEER   HOST              PORT  KEYFILE           NAME
///     bob      chat.example.org  7000  keys/bob.key      bob
///     carol    -                 -     /etc/sc/carol.key carol@home
///
/// The file holds no secret (key files are named, not included), but it says whom one talks to,
/// so the tools read it with the permission rules of key files.
public enum PeersFile {
  /// The exact first line.
  public static let header: [UInt8] = Array("securechat-peers-v1".utf8)
  /// §10.1: a larger file is refused before it is parsed.
  public static let maxSize = 1 << 20
  /// §10.2: the most entries a peers file holds (`PEERS_MAX`). A responder with a peers file
  /// computes a candidate response for this many keys at every handshake, whatever the number of
  /// entries (PROTOCOL.md §3.9), so that its time does not tell how many there are: the bound
  /// keeps that work small (about 0.1 ms) and fixed.
  public static let maxEntries = 64
  /// The longest KEYFILE field, in bytes (Linux's PATH_MAX, with its terminator).
  public static let maxKeyFileLength = 4095
  /// The longest HOST field, in bytes (a DNS name).
  public static let maxHostLength = 253

  public struct Entry: Equatable, Sendable {
    /// The line of the file it was read from (the first line is 1).
    public let line: Int
    /// The local label: what a user types (`sc-chat connect bob`).
    public let peer: String
    /// Where to reach the peer; both nil (`-`) for a peer that only connects to us.
    public let host: String?
    public let port: UInt16?
    /// KEYFILE as written in the file.
    public let keyFile: String
    /// KEYFILE resolved against the peers file's directory (unchanged if absolute); for a public
    /// key, its text as `PublicKey.text` writes it (lower case).
    public let keyPath: String
    /// The peer's identity, when KEYFILE is a public key (`scpub1…`, FORMATS.md §12.1) rather
    /// than the path of a pre-shared key file.
    public let publicKey: PublicKey?
    /// The name the peer must authenticate as (PROTOCOL.md §2.2).
    public let name: String

    public init(
      line: Int, peer: String, host: String?, port: UInt16?, keyFile: String, keyPath: String,
      publicKey: PublicKey? = nil, name: String
    ) {
      self.line = line
      self.peer = peer
      self.host = host
      self.port = port
      self.keyFile = keyFile
      self.keyPath = keyPath
      self.publicKey = publicKey
      self.name = name
    }
  }

  /// §10.2: a KEYFILE field that begins with this (in either case) is a public key, not a path.
  public static func namesPublicKey(_ field: some Collection<UInt8>) -> Bool {
    let prefix = Array((PublicKey.prefix + "1").utf8)
    return field.count >= prefix.count
      && zip(field, prefix).allSatisfy { $0 == $1 || $0 == $1 - 0x20 }
  }

  /// `keyFile` as the tools open it: an absolute path as it is, a relative one prefixed with the
  /// directory of `location` (the peers file's path as given: everything before its last `/`,
  /// `/` if that is empty, `.` if there is no `/`).
  public static func resolve(keyFile: String, location: String) -> String {
    if keyFile.hasPrefix("/") { return keyFile }
    guard let slash = location.lastIndex(of: "/") else { return "./" + keyFile }
    let directory = location[..<slash]
    return (directory.isEmpty ? "" : String(directory)) + "/" + keyFile
  }

  /// A PEER label: a name of PROTOCOL.md §2.2 that does not begin with `-`.
  public static func isValidLabel(_ label: some Collection<UInt8>) -> Bool {
    SessionName.isValid(label) && label.first != UInt8(ascii: "-")
  }

  /// Parses the whole file. `location` is its path, for relative key files.
  public static func parse(_ bytes: [UInt8], location: String) throws -> [Entry] {
    guard bytes.count <= maxSize else {
      throw PeersFileError(.tooLarge, line: 0, "larger than \(maxSize) bytes")
    }
    var entries: [Entry] = []
    var labels: [String: Int] = [:]
    var keyPaths: [String: Entry] = [:]
    var publicKeys: [PublicKey: Entry] = [:]
    var lineNumber = 0
    var start = 0
    while start < bytes.count || (lineNumber == 0) {
      lineNumber += 1
      var end = start
      while end < bytes.count && bytes[end] != UInt8(ascii: "\n") { end += 1 }
      var stop = end
      if stop > start && bytes[stop - 1] == UInt8(ascii: "\r") { stop -= 1 }
      let line = Array(bytes[start..<stop])
      start = end + 1

      // The whole line is UTF-8 without control characters (tab aside): nothing in the file can
      // reach a terminal or a log as an escape sequence.
      guard let text = String(validating: line, as: UTF8.self) else {
        throw PeersFileError(.badCharacter, line: lineNumber, "not UTF-8")
      }
      if let bad = line.first(where: { ($0 < 0x20 && $0 != 0x09) || $0 == 0x7f }) {
        throw PeersFileError(
          .badCharacter, line: lineNumber, "control character 0x\(String(bad, radix: 16, uppercase: false))")
      }
      if lineNumber == 1 {
        guard line == header else {
          // `securechat-peers-vN` with another number N: a version of this format we do not know.
          let prefix = Array("securechat-peers-v".utf8)
          let version = line.dropFirst(prefix.count)
          if line.starts(with: prefix), !version.isEmpty,
            version.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
          {
            throw PeersFileError(.unsupported, line: 1, "unsupported peers file version '\(text)'")
          }
          throw PeersFileError(.notAPeersFile, line: 1, "the first line is not 'securechat-peers-v1'")
        }
        continue
      }
      let fields = line.split(whereSeparator: { $0 == 0x20 || $0 == 0x09 }).map { Array($0) }
      if fields.isEmpty || fields[0].first == UInt8(ascii: "#") { continue }
      let entry = try parseEntry(fields, line: lineNumber, location: location)
      if let first = labels[entry.peer] {
        throw PeersFileError(
          .duplicatePeer, line: lineNumber, "peer '\(entry.peer)' is already defined on line \(first)")
      }
      if let key = entry.publicKey, let other = publicKeys[key] {
        throw PeersFileError(
          .duplicatePublicKey, line: lineNumber,
          "public key \(key.fingerprint) is already the key of peer '\(other.peer)' (line \(other.line)):"
            + " a key belongs to one peer")
      }
      if entry.publicKey == nil, let other = keyPaths[entry.keyPath] {
        throw PeersFileError(
          .duplicateKeyFile, line: lineNumber,
          "key file \(entry.keyFile) is already the key of peer '\(other.peer)' (line \(other.line)):"
            + " each peer needs its own key")
      }
      guard entries.count < maxEntries else {
        throw PeersFileError(
          .tooManyEntries, line: lineNumber, "entry \(maxEntries + 1): a peers file holds at most \(maxEntries) entries"
        )
      }
      labels[entry.peer] = lineNumber
      if let key = entry.publicKey { publicKeys[key] = entry } else { keyPaths[entry.keyPath] = entry }
      entries.append(entry)
    }
    return entries
  }

  private static func parseEntry(_ fields: [[UInt8]], line: Int, location: String) throws -> Entry {
    guard fields.count == 5 else {
      throw PeersFileError(
        .fieldCount, line: line,
        "\(fields.count) field\(fields.count == 1 ? "" : "s") where 5 are needed:"
          + " PEER HOST PORT KEYFILE NAME")
    }
    let (peer, host, port, keyFile, name) = (fields[0], fields[1], fields[2], fields[3], fields[4])
    func text(_ field: [UInt8]) -> String { String(decoding: field, as: UTF8.self) }
    let dash: [UInt8] = [UInt8(ascii: "-")]

    guard isValidLabel(peer) else {
      throw PeersFileError(
        .badPeer, line: line,
        "the peer label '\(text(peer))' is not valid: 1 to 64 letters, digits, '.', '_', '-', '@' or '+',"
          + " not beginning with '-'")
    }
    guard host == dash || isValidHost(host) else {
      throw PeersFileError(
        .badHost, line: line,
        "the host '\(text(host))' is not valid: a host name or IPv4 address (letters, digits, '.', '-', '_'),"
          + " an IPv6 address in brackets, or '-'")
    }
    var portNumber: UInt16?
    if port != dash {
      guard port.count <= 5, port.first != UInt8(ascii: "0"),
        port.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
        let value = Int(text(port)), value >= 1, value <= 65535
      else {
        throw PeersFileError(.badPort, line: line, "the port '\(text(port))' is not a number from 1 to 65535, or '-'")
      }
      portNumber = UInt16(value)
    }
    guard (host == dash) == (port == dash) else {
      throw PeersFileError(.badAddress, line: line, "HOST and PORT must both be '-' or both be given")
    }
    guard keyFile.count <= maxKeyFileLength, keyFile != dash, keyFile.first != UInt8(ascii: "~") else {
      throw PeersFileError(
        .badKeyFile, line: line,
        keyFile.first == UInt8(ascii: "~")
          ? "the key file '\(text(keyFile))' begins with '~': write the path in full (no ~ expansion)"
          : keyFile == dash
            ? "the key file cannot be '-' (standard input)"
            : "the key file path is longer than \(maxKeyFileLength) bytes")
    }
    var publicKey: PublicKey?
    if namesPublicKey(keyFile) {
      do {
        publicKey = try PublicKey(text: text(keyFile))
      } catch let error as ProtocolError {
        throw PeersFileError(.badPublicKey, line: line, error.description)
      }
    }
    guard SessionName.isValid(name) else {
      throw PeersFileError(
        .badName, line: line,
        "the name '\(text(name))' is not valid: 1 to 64 letters, digits, '.', '_', '-', '@' or '+'")
    }
    return Entry(
      line: line, peer: text(peer), host: host == dash ? nil : text(host), port: portNumber, keyFile: text(keyFile),
      keyPath: publicKey?.text ?? resolve(keyFile: text(keyFile), location: location), publicKey: publicKey,
      name: text(name))
  }

  /// §10.2: a host name or IPv4 address, or an IPv6 address in brackets.
  static func isValidHost(_ host: [UInt8]) -> Bool {
    func isIn(_ c: UInt8, _ extra: String) -> Bool {
      (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
        || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || extra.utf8.contains(c)
    }
    if host.first == UInt8(ascii: "[") {
      guard host.count >= 4, host.count <= 47, host.last == UInt8(ascii: "]") else { return false }
      return host.dropFirst().dropLast().allSatisfy { c in
        (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "f"))
          || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "F")) || c == UInt8(ascii: ":") || c == UInt8(ascii: ".")
      }
    }
    return !host.isEmpty && host.count <= maxHostLength && host.first != UInt8(ascii: "-")
      && host.allSatisfy { isIn($0, ".-_") }
  }
}

/// Why a peers file was refused: a kind (the class of the test vectors), the line (0 for the
/// whole file) and what is wrong.
public struct PeersFileError: Error, Equatable, CustomStringConvertible {
  public enum Kind: String, CaseIterable, Sendable {
    case tooLarge = "too-large"
    case notAPeersFile = "not-a-peers-file"
    case unsupported
    case badCharacter = "bad-character"
    case fieldCount = "field-count"
    case badPeer = "bad-peer"
    case badHost = "bad-host"
    case badPort = "bad-port"
    case badAddress = "bad-address"
    case badKeyFile = "bad-key-file"
    case badPublicKey = "bad-public-key"
    case badName = "bad-name"
    case duplicatePeer = "duplicate-peer"
    case duplicateKeyFile = "duplicate-key-file"
    case duplicatePublicKey = "duplicate-public-key"
    case tooManyEntries = "too-many-entries"
  }

  public let kind: Kind
  public let line: Int
  public let detail: String

  public init(_ kind: Kind, line: Int, _ detail: String) {
    self.kind = kind
    self.line = line
    self.detail = detail
  }

  public var description: String { line == 0 ? detail : "line \(line): \(detail)" }
}
