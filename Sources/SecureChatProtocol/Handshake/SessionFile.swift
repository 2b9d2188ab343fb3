import SecureChatCrypto

/// The session file sc-handshake writes and sc-seal/sc-open -s read (docs/PROTOCOL.md §5):
///
///     0    magic "SCSESS" (6)          6    version 1 (1)       7  role: 1 initiator, 2 responder (1)
///     8    session id (16)             24   final transcript hash (32)
///     56   send encryption key (32)    88   send authentication key (32)
///     120  receive encryption key (32) 152  receive authentication key (32)
///     184  local name length n (1), local name (n), peer name length m (1), peer name (m)
///     then the verification code, 15 ASCII bytes ("ddd ddd ddd ddd")
public enum SessionFile {
  public static let magic = Array("SCSESS".utf8)
  public static let version: UInt8 = 1
  static let fixedPartSize = 184
  static let codeSize = 15
  public static let maxSize = fixedPartSize + 2 + 2 * SessionName.maxLength + codeSize

  public static func serialize(_ session: SessionSecrets) -> SecretBytes {
    let size = fixedPartSize + 2 + session.localName.count + session.peerName.count + codeSize
    return HandshakeFileWriter.make(size: size) { file in
      file.put(magic + [version, session.role.rawValue])
      file.put(session.sessionID)
      file.put(session.transcriptHash)
      for key in [
        session.send.encryption, session.send.authentication, session.receive.encryption,
        session.receive.authentication,
      ] {
        file.put(key)
      }
      file.putName(session.localName)
      file.putName(session.peerName)
      file.put(Array(session.verificationCode.utf8))
    }
  }

  /// Which keys of the file belong to a direction: 64 bytes, the encryption key then the
  /// authentication key.
  public static func keyRange(of direction: OneWaySession.Direction) -> Range<Int> {
    direction == .send ? 56..<120 : 120..<184
  }

  /// Whether `direction` has been claimed (§5): its two keys are all zero. `bytes` holds at least
  /// the 184 bytes before the names (a whole session file, or its start).
  public static func isClaimed(_ bytes: UnsafeRawBufferPointer, direction: OneWaySession.Direction) -> Bool {
    precondition(bytes.count >= keyRange(of: .receive).upperBound)
    return bytes[keyRange(of: direction)].allSatisfy { $0 == 0 }
  }

  /// The whole session, both directions (tests, fuzzing, the round trip of `serialize`).
  public static func parse(_ bytes: UnsafeRawBufferPointer) throws -> SessionSecrets {
    let header = try Header(bytes)
    func keys(_ direction: OneWaySession.Direction) -> FrameKeys { header.keys(direction, bytes) }
    return SessionSecrets(details: header.details, send: keys(.send), receive: keys(.receive))
  }

  /// One direction of the session: the file is checked whole, but only the keys of `direction`
  /// are copied out of `bytes` (which the caller zeroes): sc-seal -s never holds the receive keys,
  /// sc-open -s never the send keys. Whether that direction was claimed is for the caller to ask
  /// (`isClaimed`): a claimed file is still a valid one.
  public static func parse(_ bytes: UnsafeRawBufferPointer, direction: OneWaySession.Direction) throws
    -> OneWaySession
  {
    let header = try Header(bytes)
    return OneWaySession(direction: direction, details: header.details, keys: header.keys(direction, bytes))
  }

  /// Everything in the file but the keys, checked.
  private struct Header {
    let details: SessionDetails

    init(_ bytes: UnsafeRawBufferPointer) throws {
      let file = try HandshakeFileLayout(
        bytes, magic: magic, version: version, fixedPartSize: fixedPartSize, what: "session file")
      let fail = file.fail
      func slice(_ start: Int, _ count: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[start..<start + count])
      }
      let offset = file.end
      guard bytes.count == offset + codeSize else { throw fail("wrong size") }
      let code = String(decoding: slice(offset, codeSize), as: UTF8.self)
      guard code.wholeMatch(of: /\d{3} \d{3} \d{3} \d{3}/) != nil else { throw fail("bad verification code") }
      details = SessionDetails(
        role: file.role, sessionID: Array(slice(8, 16)), localName: file.local, peerName: file.peer,
        transcriptHash: Array(slice(24, 32)), verificationCode: code)
    }

    func keys(_ direction: OneWaySession.Direction, _ bytes: UnsafeRawBufferPointer) -> FrameKeys {
      let start = keyRange(of: direction).lowerBound
      return FrameKeys(
        encryption: SecretBytes(copying: UnsafeRawBufferPointer(rebasing: bytes[start..<start + 32])),
        authentication: SecretBytes(copying: UnsafeRawBufferPointer(rebasing: bytes[start + 32..<start + 64])))
    }
  }
}
