import SecureChatCrypto
import SecureChatProtocol

/// Reads a continuation file (PROTOCOL.md §5.1) for `sc-handshake --continue-from`, with the rules
/// of secret files, and checks that it belongs to this handshake: the same role, the same own
/// name, and the peer name the user asked for, if any. A mismatch is a usage error found before
/// anything is sent.
enum ContinuationLoader {
  static func load(_ path: String, role: Handshake.Role, name: String, peerName: String?, withPeersFile: Bool)
    throws -> ContinuationFile.Contents
  {
    if withPeersFile {
      throw ToolError.usage("--continue-from cannot be used with --peers: a continuation is with one peer (-k KEYFILE)")
    }
    let (buffer, count) = try SecretFileReader.read(
      path, maxSize: ContinuationFile.maxSize, what: "continuation file")
    let contents: ContinuationFile.Contents
    do {
      contents = try buffer.withUnsafeBytes {
        try ContinuationFile.parse(UnsafeRawBufferPointer(rebasing: $0[0..<count]))
      }
    } catch let error as ProtocolError {
      throw ToolError(error.naming(path), hints: ["continuation files are written by sc-handshake"])
    }
    let storedName = String(decoding: contents.localName, as: UTF8.self)
    let storedPeer = String(decoding: contents.peerName, as: UTF8.self)
    guard contents.role == role else {
      throw ToolError.usage(
        "\(path) continues a session in which this side was the \(contents.role == .initiator ? "initiator" : "responder")"
      )
    }
    guard storedName == name else {
      throw ToolError.usage("\(path) continues a session in which this side was '\(storedName)', not '\(name)'")
    }
    if let peerName, peerName != storedPeer {
      throw ToolError.usage("\(path) continues a session with '\(storedPeer)', not '\(peerName)'")
    }
    return contents
  }
}
