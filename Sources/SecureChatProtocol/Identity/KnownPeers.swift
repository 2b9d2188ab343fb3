/// The known-peers file (docs/FORMATS.md §12.3): which public key each peer name has, as ssh's
/// known_hosts says which key each host has. One entry per line:
///
///     # comment
///     bob scpub1…
///
/// A name (PROTOCOL.md §2.2), one or more spaces or tabs, a public key (§12.1); blank lines and
/// lines starting with `#` are comments; spaces and tabs at either end of a line are ignored.
public enum KnownPeers {
  /// Large enough for thousands of peers, small enough to read whole.
  public static let maxSize = 1 << 20

  public struct Entry: Sendable, Equatable {
    public let name: String
    public let key: PublicKey
    /// 1-based, for messages that tell the user which line to change.
    public let line: Int
  }

  public struct ParseError: Error, Equatable, CustomStringConvertible {
    public let line: Int
    public let reason: String
    public var description: String { "line \(line): \(reason)" }
  }

  /// The entries, in order; the first defect stops the parse.
  public static func parse(_ text: [UInt8]) throws -> [Entry] {
    guard text.count <= maxSize else { throw ParseError(line: 0, reason: "larger than \(maxSize) bytes") }
    var entries: [Entry] = []
    var seen: [String: Int] = [:]
    for (index, rawLine) in text.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
      let number = index + 1
      let fields = rawLine.split(whereSeparator: { $0 == 0x20 || $0 == 0x09 || $0 == 0x0d })
      guard let first = fields.first, first.first != UInt8(ascii: "#") else { continue }
      guard fields.count == 2 else {
        throw ParseError(line: number, reason: "expected a name and a public key, such as 'bob scpub1…'")
      }
      guard SessionName.isValid(first) else {
        throw ParseError(line: number, reason: "not a valid name (1 to 64 letters, digits, '.', '_', '-', '@' or '+')")
      }
      let name = String(decoding: first, as: UTF8.self)
      let key: PublicKey
      do {
        key = try PublicKey(text: String(decoding: fields[1], as: UTF8.self))
      } catch {
        throw ParseError(line: number, reason: "\(error)")
      }
      if let earlier = seen[name] {
        throw ParseError(line: number, reason: "the name '\(name)' is already on line \(earlier)")
      }
      seen[name] = number
      entries.append(Entry(name: name, key: key, line: number))
    }
    return entries
  }

  /// The line that pins `key` to `name`.
  public static func line(name: String, key: PublicKey) -> String { "\(name) \(key.text)\n" }
}
