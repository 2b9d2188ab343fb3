import SecureChatCrypto

/// The byte layout shared by the two secret files sc-handshake writes, the session file
/// (docs/PROTOCOL.md §5) and the continuation file (§5.1): fixed fields, then this side's name
/// and the peer's, each after a length byte. Written straight into secret memory.
struct HandshakeFileWriter {
  private let buffer: UnsafeMutableRawBufferPointer
  private(set) var offset = 0

  /// A file of exactly `size` bytes, filled in by `body` in order.
  static func make(size: Int, _ body: (inout HandshakeFileWriter) -> Void) -> SecretBytes {
    let out = SecretBytes(count: size)
    out.withUnsafeMutableBytes { buffer in
      var writer = HandshakeFileWriter(buffer: buffer)
      body(&writer)
      precondition(writer.offset == size)
    }
    return out
  }

  mutating func put(_ bytes: UnsafeRawBufferPointer) {
    buffer.baseAddress!.advanced(by: offset).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
    offset += bytes.count
  }
  mutating func put(_ bytes: [UInt8]) { bytes.withUnsafeBytes { put($0) } }
  mutating func put(_ secret: SecretBytes) { secret.withUnsafeBytes { put($0) } }
  /// A name (§2.2) after its length byte.
  mutating func putName(_ name: [UInt8]) { put([UInt8(name.count)] + name) }
}

/// Reads what the two files share, in the order of their checks (§5, §5.1): the magic, the
/// version (another is `unsupported`), the role, then, after the fixed part, the two names, each
/// checked (§2.2). The caller checks the size and reads the fixed fields.
struct HandshakeFileLayout {
  let role: Handshake.Role
  let local: [UInt8]
  let peer: [UInt8]
  /// Where the bytes after the two names start.
  let end: Int
  /// The refusal of this kind of file ("not a valid session file: …").
  let fail: (String) -> ProtocolError

  init(
    _ bytes: UnsafeRawBufferPointer, magic: [UInt8], version: UInt8, fixedPartSize: Int, what: String
  ) throws {
    let fail = { (why: String) in ProtocolError.invalidKeyFile("not a valid \(what): \(why)") }
    self.fail = fail
    guard bytes.count >= 8, bytes.prefix(6).elementsEqual(magic) else { throw fail("bad magic") }
    guard bytes[6] == version else { throw ProtocolError.unsupported("\(what) version \(bytes[6])") }
    guard let role = Handshake.Role(rawValue: bytes[7]) else { throw fail("bad role") }
    guard bytes.count >= fixedPartSize + 1 else { throw fail("too short") }
    self.role = role
    var offset = fixedPartSize
    func name() throws -> [UInt8] {
      guard offset < bytes.count else { throw fail("too short") }
      let count = Int(bytes[offset])
      guard offset + 1 + count <= bytes.count else { throw fail("too short") }
      let name = Array(UnsafeRawBufferPointer(rebasing: bytes[(offset + 1)..<(offset + 1 + count)]))
      guard SessionName.isValid(name) else { throw fail("bad name") }
      offset += 1 + count
      return name
    }
    local = try name()
    peer = try name()
    end = offset
  }
}
