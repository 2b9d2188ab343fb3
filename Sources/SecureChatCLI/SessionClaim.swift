import SecureChatCrypto
import SecureChatProtocol

#if canImport(Glibc)
  import Glibc
#endif

/// The one-use mark of a session file (docs/PROTOCOL.md §5): before its first frame, `sc-seal -s`
/// zeroes the send keys in the file it read them from, and `sc-open -s` the receive keys, so that
/// a second run of either with the same file is refused, and a recorded stream cannot be
/// replayed into a second `sc-open -s`. The tool that zeroes the second direction removes the
/// file. Only a regular file can be marked: a session read from a pipe or fifo is not.
struct SessionClaim {
  let path: String
  /// The session file, open for reading and writing (reopened from the descriptor it was read from).
  let file: FileDescriptor
  let session: OneWaySession

  static func alreadyUsed(_ path: String, _ direction: OneWaySession.Direction) -> ToolError {
    ToolError(
      "session file \(path) was already used for \(direction == .send ? "sending" : "receiving"): run a new handshake",
      hints: ["a session file is good for one sc-seal -s and one sc-open -s (PROTOCOL.md §6.4)"])
  }

  /// Claims the direction of `session`, under an exclusive lock on the file (the other tool of the
  /// session may be claiming its own at the same time): the keys of that direction must still be
  /// the ones loaded; they are overwritten with zeros and the change is flushed to disk. If the
  /// other direction is zero too, the file is removed when `path` names it directly.
  func take() throws {
    defer { file.close() }  // which releases the lock
    while flock(file.rawValue, LOCK_EX) != 0 {
      guard errno == EINTR else { throw ToolError.system("cannot lock the session file \(path)") }
    }
    let own = SessionFile.keyRange(of: session.direction)
    let keys = SecretBytes(count: SessionFile.keyRange(of: .receive).upperBound)
    let count = try keys.withUnsafeMutableBytes { buffer in
      var total = 0
      while total < buffer.count {
        let n = pread(file.rawValue, buffer.baseAddress! + total, buffer.count - total, off_t(total))
        if n < 0 && errno == EINTR { continue }
        guard n >= 0 else { throw ToolError.system("cannot read the session file \(path)") }
        if n == 0 { break }
        total += n
      }
      return total
    }
    guard count == keys.count else { throw ToolError("session file \(path) changed after it was read") }
    try keys.withUnsafeBytes { bytes in
      if SessionFile.isClaimed(bytes, direction: session.direction) {
        throw Self.alreadyUsed(path, session.direction)
      }
      // The file still holds the keys this tool loaded: it is the same session.
      let loaded = session.keys.encryption.concatenating(session.keys.authentication)
      guard loaded.withUnsafeBytes({ ConstantTime.equals($0, UnsafeRawBufferPointer(rebasing: bytes[own])) }) else {
        throw ToolError("session file \(path) changed after it was read")
      }
    }
    let zeros = [UInt8](repeating: 0, count: own.count)
    let written = zeros.withUnsafeBytes { pwrite(file.rawValue, $0.baseAddress!, $0.count, off_t(own.lowerBound)) }
    guard written == own.count, fdatasync(file.rawValue) == 0 || errno == EINVAL else {
      throw ToolError.system("cannot mark the session file \(path) as used")
    }
    let otherClaimed = keys.withUnsafeBytes {
      SessionFile.isClaimed($0, direction: session.direction == .send ? .receive : .send)
    }
    if otherClaimed { removeIfNamedDirectly() }
  }

  /// Both directions are used: the file is removed, if `path` is its name (not `-`, a descriptor
  /// name or a symbolic link) and still names this file. Otherwise it stays, with no key left in it.
  private func removeIfNamedDirectly() {
    guard path != "-", !SecretFileReader.namesDescriptor(path) else { return }
    var named = stat()
    var opened = stat()
    guard lstat(path, &named) == 0, fstat(file.rawValue, &opened) == 0, named.st_mode & S_IFMT == S_IFREG,
      named.st_dev == opened.st_dev, named.st_ino == opened.st_ino
    else { return }
    unlink(path)
  }
}
