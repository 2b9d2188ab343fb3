import SecureChatCrypto
import SecureChatProtocol

#if canImport(Glibc)
  import Glibc
#endif

/// Reads secret files (key files, session files) the way DESIGN.md asks: from a path, `-`
/// (standard input) or /dev/fd/N, into a zeroed-on-release buffer; a regular file that group or
/// others may access is refused, as OpenSSH does.
///
/// A path is followed through symbolic links (as OpenSSH follows them to an identity file), and
/// what it leads to is checked: it must be a regular file. A fifo, device or socket found by
/// path is refused at once (it is opened with O_NONBLOCK, so a fifo without a writer cannot make
/// open(2) wait forever, and a writer that never writes cannot make read(2) wait). A pipe or fifo
/// is still read when it is named as a descriptor: `-`, /dev/stdin, /dev/fd/N or
/// /proc/self/fd/N, which the shell opened (a redirection such as `3<FIFO` or a process
/// substitution).
enum SecretFileReader {
  /// Whether `path` names a descriptor this process already has open.
  static func namesDescriptor(_ path: String) -> Bool {
    OutputTarget.descriptorNumber(path) != nil
  }

  /// The file's bytes (at most `maxSize`) and their count. `what` names the file in messages.
  static func read(_ path: String, maxSize: Int, what: String, missingHint: String? = nil) throws -> (
    SecretBytes, Int
  ) {
    let (buffer, count, _) = try read(
      path, maxSize: maxSize, what: what, missingHint: missingHint, reopenForWriting: false)
    return (buffer, count)
  }

  /// The same, and with `reopenForWriting`, when what was read is a regular file (however it
  /// was named: a path, /dev/fd/N, or `-` on a redirected standard input), a new descriptor open
  /// for reading and writing on that same file: reopened through /proc/self/fd, so that it is the
  /// file that was read even if the path has changed since, or was unlinked. Nil for a pipe,
  /// fifo or device. A regular file that cannot be opened for writing is an error.
  static func read(
    _ path: String, maxSize: Int, what: String, missingHint: String? = nil, reopenForWriting: Bool
  ) throws -> (SecretBytes, Int, FileDescriptor?) {
    let (buffer, count, writable, openToOthers) = try read(
      path, maxSize: maxSize, what: what, missingHint: missingHint, reopenForWriting: reopenForWriting,
      refuseOpenToOthers: true)
    _ = openToOthers
    return (buffer, count, writable)
  }

  /// The same; with `refuseOpenToOthers` false, a regular file that group or others may access
  /// is read too, and said to be so: for `sc-keygen -y`, which learns only from the bytes whether
  /// they are a secret (a key file, refused then) or public keys (fine in any mode).
  static func read(
    _ path: String, maxSize: Int, what: String, missingHint: String? = nil, reopenForWriting: Bool,
    refuseOpenToOthers: Bool
  ) throws -> (SecretBytes, Int, FileDescriptor?, openToOthers: Bool) {
    let fd: FileDescriptor
    if path == "-" {
      try StandardDescriptors.requireOpen(.standardInput)
      fd = .standardInput
    } else {
      let raw = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
      guard raw >= 0 else {
        let code = errno
        throw ToolError(
          "cannot read \(what) \(path): \(String(cString: strerror(code)).lowercased())",
          hints: code == ENOENT ? (missingHint.map { [$0] } ?? []) : [])
      }
      fd = FileDescriptor(rawValue: raw)
    }
    defer { if path != "-" { fd.close() } }

    var info = stat()
    guard fstat(fd.rawValue, &info) == 0 else { throw ToolError.system("cannot stat \(what) \(path)") }
    let kind = info.st_mode & S_IFMT
    if kind == S_IFDIR { throw ToolError("\(what) \(path) is a directory") }
    if kind != S_IFREG && path != "-" && !namesDescriptor(path) {
      throw ToolError(
        "\(what) \(path) is not a regular file",
        hints: ["to read it from a pipe or fifo, let the shell open it: /dev/fd/3 with 3<\(path)"])
    }
    if path != "-" {
      // Reads block again: a descriptor the user named is waited on like standard input.
      let flags = fcntl(fd.rawValue, F_GETFL)
      if flags >= 0 { _ = fcntl(fd.rawValue, F_SETFL, flags & ~O_NONBLOCK) }
    }
    let openToOthers = kind == S_IFREG && info.st_mode & 0o077 != 0
    if kind == S_IFREG {
      if openToOthers && refuseOpenToOthers {
        throw OutputTarget.accessibleByOthers(what: what, path: path, mode: info.st_mode)
      }
      if info.st_size > maxSize { throw ToolError("invalid \(what) \(path): larger than \(maxSize) bytes") }
    }
    var writable: FileDescriptor?
    if reopenForWriting && kind == S_IFREG {
      let raw = open("/proc/self/fd/\(fd.rawValue)", O_RDWR | O_CLOEXEC | O_NOCTTY)
      guard raw >= 0 else {
        throw ToolError(
          "cannot open \(what) \(path) for writing: \(String(cString: strerror(errno)).lowercased())",
          hints: ["sc-seal -s and sc-open -s mark their keys in the session file as used (PROTOCOL.md §5)"])
      }
      writable = FileDescriptor(rawValue: raw)
    }
    // One byte more than the limit, so that an oversized pipe is seen as such by the parser.
    let buffer = SecretBytes(count: maxSize + 1)
    do {
      let count = try buffer.withUnsafeMutableBytes { try fd.readFully(into: $0) }
      return (buffer, count, writable, openToOthers)
    } catch let error as ToolError {
      writable?.close()
      throw error.naming(path == "-" ? "\(what) on standard input" : "\(what) \(path)")
    } catch {
      writable?.close()
      throw error
    }
  }
}

public enum KeyLoader {
  /// `type` nil accepts any key type (for fingerprints).
  public static func load(_ path: String, expecting type: KeyFile.KeyType?) throws -> KeyFile.Key {
    let howToMake =
      type == .logSeal || type == .logVerify
      ? "create a log key pair with: sc-keygen --log -o SEALKEY --verify-key VERIFYKEY"
      : type == .identity
        ? "create one with: sc-keygen --identity -o \(path)" : "create one with: sc-keygen -o \(path)"
    let (buffer, count) = try SecretFileReader.read(
      path, maxSize: KeyFile.maxSize, what: "key file", missingHint: howToMake)
    let key: KeyFile.Key
    do {
      key = try buffer.withUnsafeBytes { try KeyFile.parse(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
    } catch let error as ProtocolError {
      throw ToolError(error.naming(path), hints: ["key files are made by sc-keygen"])
    }
    if let type, key.type != type {
      throw ToolError(
        "wrong key type: \(path) is a \(key.type.rawValue) key, but a \(type.rawValue) key is needed here")
    }
    return key
  }

  /// What `sc-keygen -y FILE` reads: a key file (held to the rules of secrets), or a file of
  /// public keys (FORMATS.md §12.1: one per line, `#` comments), which may be readable by anyone.
  enum KeyOrPublicKeys {
    case key(KeyFile.Key)
    case publicKeys([PublicKey])
  }

  static func loadKeyOrPublicKeys(_ path: String) throws -> KeyOrPublicKeys {
    let (buffer, count, _, openToOthers) = try SecretFileReader.read(
      path, maxSize: max(KeyFile.maxSize, RecipientFile.maxRecipientsFileSize), what: "key file",
      reopenForWriting: false, refuseOpenToOthers: false)
    // Looked at where it lies: the first line may be a key line, whose digits are secret.
    let holdsPublicKeys = buffer.withUnsafeBytes { bytes in
      bytes[0..<count].split(separator: 0x0a).lazy.map { $0.drop(while: { $0 == 0x20 || $0 == 0x09 }) }
        .first(where: { !$0.isEmpty && $0.first != UInt8(ascii: "#") }).map(PeersFile.namesPublicKey) ?? false
    }
    if holdsPublicKeys {
      do {
        let keys = try RecipientFile.publicKeys(inList: buffer.withUnsafeBytes { Array($0[0..<count]) })
        return .publicKeys(keys)
      } catch let failure as RecipientFile.RecipientLineError {
        let detail = failure.error.description.dropFirst(failure.error.classWording.count)
        throw ToolError("\(failure.error.classWording) in \(path) line \(failure.line)\(detail)")
      }
    }
    // Anything else is read as a key file: a secret, so a file open to others is refused.
    if openToOthers {
      var info = stat()
      _ = stat(path, &info)
      throw OutputTarget.accessibleByOthers(what: "key file", path: path, mode: info.st_mode)
    }
    guard count <= KeyFile.maxSize else {
      throw ToolError("invalid key file \(path): larger than \(KeyFile.maxSize) bytes")
    }
    do {
      return .key(
        try buffer.withUnsafeBytes { try KeyFile.parse(UnsafeRawBufferPointer(rebasing: $0[0..<count])) })
    } catch let error as ProtocolError {
      throw ToolError(error.naming(path), hints: ["key files are made by sc-keygen"])
    }
  }
}

enum SessionLoader {
  /// The session in the file at `path` with the keys of `direction` only, and the claim to make
  /// on the file before the first frame (nil when it is not a regular file). The file is read into
  /// secret memory, zeroed once the keys of that direction are copied out (PROTOCOL.md §5). A
  /// direction already claimed is refused.
  static func load(_ path: String, direction: OneWaySession.Direction) throws -> (OneWaySession, SessionClaim?) {
    let (buffer, count, writable) = try SecretFileReader.read(
      path, maxSize: SessionFile.maxSize, what: "session file", reopenForWriting: true)
    do {
      let session = try buffer.withUnsafeBytes { all in
        let bytes = UnsafeRawBufferPointer(rebasing: all[0..<count])
        let session = try SessionFile.parse(bytes, direction: direction)
        if SessionFile.isClaimed(bytes, direction: direction) { throw SessionClaim.alreadyUsed(path, direction) }
        return session
      }
      return (session, writable.map { SessionClaim(path: path, file: $0, session: session) })
    } catch let error as ProtocolError {
      writable?.close()
      throw ToolError(error.naming(path), hints: ["session files are written by sc-handshake"])
    } catch {
      writable?.close()
      throw error
    }
  }
}
