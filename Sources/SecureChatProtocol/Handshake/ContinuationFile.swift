import SecureChatCrypto

/// The continuation file (docs/PROTOCOL.md §5.1): what one side keeps of a session so that a
/// later handshake between the same two sides can prove it continues it (§4.7). sc-handshake
/// writes it with `--continuation-to` and reads it with `--continue-from`:
///
///     0   magic "SCCONT" (6)     6   version 1 (1)     7   role of this side (1)
///     8   session id (16)        24  continuation secret (32)
///     56  local name length n (1), local name (n), peer name length m (1), peer name (m)
public enum ContinuationFile {
  public static let magic = Array("SCCONT".utf8)
  public static let version: UInt8 = 1
  static let fixedPartSize = 56
  public static let maxSize = fixedPartSize + 2 + 2 * SessionName.maxLength

  public struct Contents {
    public let role: Handshake.Role
    /// The session it continues (public: it names that session in logs and diagnostics).
    public let sessionID: [UInt8]
    public let secret: SecretBytes
    public let localName: [UInt8]
    public let peerName: [UInt8]

    public init(role: Handshake.Role, sessionID: [UInt8], secret: SecretBytes, localName: [UInt8], peerName: [UInt8]) {
      precondition(sessionID.count == 16 && secret.count == 32)
      self.role = role
      self.sessionID = sessionID
      self.secret = secret
      self.localName = localName
      self.peerName = peerName
    }

    public init(_ session: SessionSecrets) {
      self.init(
        role: session.role, sessionID: session.sessionID, secret: session.continuationSecret,
        localName: session.localName, peerName: session.peerName)
    }

    /// §4.7: the key that takes the pre-shared key's place in a handshake that continues this session.
    public func continuedKey(psk: SecretBytes) throws -> SecretBytes {
      try KeySchedule.continuedKey(psk: psk, continuationSecret: secret)
    }
  }

  public static func serialize(_ contents: Contents) -> SecretBytes {
    let size = fixedPartSize + 2 + contents.localName.count + contents.peerName.count
    return HandshakeFileWriter.make(size: size) { file in
      file.put(magic + [version, contents.role.rawValue])
      file.put(contents.sessionID)
      file.put(contents.secret)
      file.putName(contents.localName)
      file.putName(contents.peerName)
    }
  }

  /// The checks of §5.1, in order: magic, version, role, then the two names and the exact size.
  public static func parse(_ bytes: UnsafeRawBufferPointer) throws -> Contents {
    let file = try HandshakeFileLayout(
      bytes, magic: magic, version: version, fixedPartSize: fixedPartSize, what: "continuation file")
    guard bytes.count == file.end else { throw file.fail("wrong size") }
    func slice(_ start: Int, _ count: Int) -> UnsafeRawBufferPointer {
      UnsafeRawBufferPointer(rebasing: bytes[start..<start + count])
    }
    return Contents(
      role: file.role, sessionID: Array(slice(8, 16)), secret: SecretBytes(copying: slice(24, 32)),
      localName: file.local, peerName: file.peer)
  }
}
