/// The armored (text) form of a sealed file, docs/FORMATS.md §4: a BEGIN line, the binary
/// file in base64 at 64 characters a line, an END line.
public enum Armor {
  public static let beginLine = Array("-----BEGIN SECURECHAT SEALED FILE-----".utf8)
  public static let endLine = Array("-----END SECURECHAT SEALED FILE-----".utf8)
  public static let columns = 64
  /// Raw bytes per full line.
  static let bytesPerLine = columns / 4 * 3
  /// §4: a line longer than this (END line, or a full data line with CR) is damage, not something to buffer.
  static let maxLineLength = max(columns, endLine.count) + 1

  /// Does `prefix` (the first bytes of an input) start like an armored file? Needs
  /// `beginLine.count` bytes to say yes.
  public static func looksArmored(_ prefix: some Collection<UInt8>) -> Bool {
    prefix.starts(with: beginLine)
  }
}

/// Streams binary bytes into armor.
public struct ArmorEncoder {
  private var pending: [UInt8] = []

  public init() {}

  public func header() -> [UInt8] { Armor.beginLine + [UInt8(ascii: "\n")] }

  /// Armor for `bytes`, holding back a partial line until more comes or `finish()`.
  public mutating func encode(_ bytes: UnsafeRawBufferPointer, into out: inout [UInt8]) {
    pending.append(contentsOf: bytes)
    var start = 0
    while pending.count - start >= Armor.bytesPerLine {
      out += Base64.encodeBytes(pending[start..<start + Armor.bytesPerLine])
      out.append(UInt8(ascii: "\n"))
      start += Armor.bytesPerLine
    }
    pending.removeFirst(start)
  }

  public mutating func finish(into out: inout [UInt8]) {
    if !pending.isEmpty {
      out += Base64.encodeBytes(pending)
      out.append(UInt8(ascii: "\n"))
      pending.removeAll()
    }
    out += Armor.endLine + [UInt8(ascii: "\n")]
  }
}

/// Strict streaming decoder of armor; damage is an integrity failure (exit 1), a missing BEGIN
/// line means the input is not ours (exit 2).
public struct ArmorDecoder {
  private enum State { case expectingBegin, body, afterShortLine, ended }
  private var state = State.expectingBegin
  private var line: [UInt8] = []
  private var lineNumber = 0

  public init() {}

  /// Decodes `input`, appending the binary bytes to `out`.
  public mutating func decode(_ input: UnsafeRawBufferPointer, into out: inout [UInt8]) throws {
    for byte in input {
      if byte == UInt8(ascii: "\n") {
        try endOfLine(into: &out)
        continue
      }
      if state == .ended {
        guard byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r") else {
          throw ProtocolError.trailingData
        }
        continue
      }
      line.append(byte)
      if line.count > Armor.maxLineLength {
        if state == .expectingBegin { throw ProtocolError.notSealed }  // §4.2 rule 3
        throw ProtocolError.malformed("armor line \(lineNumber + 1) is too long")
      }
    }
  }

  /// Call at end of input: the END line must have been seen.
  public mutating func finish(into out: inout [UInt8]) throws {
    // §4.2 rule 2: the last line need not end in LF, and is checked like any other (rule 6: a
    // line cut inside a 4-character group or inside the END line breaks rule 4 first).
    if !line.isEmpty { try endOfLine(into: &out) }
    switch state {
    case .ended: return
    case .expectingBegin: throw ProtocolError.notSealed
    default: throw ProtocolError.truncated
    }
  }

  private mutating func endOfLine(into out: inout [UInt8]) throws {
    lineNumber += 1
    defer { line.removeAll(keepingCapacity: true) }
    if line.last == UInt8(ascii: "\r") { line.removeLast() }
    switch state {
    case .expectingBegin:
      // §4.2 rule 3: a first line that is not exactly the BEGIN line is not our armor, even if it
      // starts with it (a later format may add to it).
      guard line == Armor.beginLine else { throw ProtocolError.notSealed }
      state = .body
    case .body, .afterShortLine:
      if line == Armor.endLine {
        state = .ended
        return
      }
      guard state == .body else { throw ProtocolError.malformed("armor line \(lineNumber) follows a short line") }
      guard !line.isEmpty, line.count <= Armor.columns, let bytes = Base64.decode(line) else {
        throw ProtocolError.malformed("armor line \(lineNumber) is not valid base64")
      }
      if line.count < Armor.columns || line.last == UInt8(ascii: "=") { state = .afterShortLine }
      out += bytes
    case .ended:
      guard line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }) else {
        throw ProtocolError.trailingData
      }
    }
  }
}
