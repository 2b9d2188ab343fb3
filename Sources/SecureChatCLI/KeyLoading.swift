import SecureChatCrypto
import SecureChatProtocol

#if canImport(Glibc)
  import Glibc
#endif

/// Reads key files the way DESIGN.md asks: from a path, `-` (standard input) or /dev/fd/N;
/// a regular file that group or others may access is refused, as OpenSSH does.
public enum KeyLoader {
  /// `type` nil accepts any key type (for fingerprints).
  public static func load(_ path: String, expecting type: KeyFile.KeyType?) throws -> KeyFile.Key {
    let fd: FileDescriptor
    if path == "-" {
      fd = .standardInput
    } else {
      let raw = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)
      guard raw >= 0 else {
        let code = errno
        throw ToolError(
          "cannot read key file \(path): \(String(cString: strerror(code)).lowercased())",
          hints: code == ENOENT ? ["create one with: sc-keygen -o \(path)"] : [])
      }
      fd = FileDescriptor(rawValue: raw)
    }
    defer { if path != "-" { fd.close() } }

    var info = stat()
    guard fstat(fd.rawValue, &info) == 0 else { throw ToolError.system("cannot stat key file \(path)") }
    let kind = info.st_mode & S_IFMT
    if kind == S_IFDIR { throw ToolError("key file \(path) is a directory") }
    if kind == S_IFREG {
      if info.st_mode & 0o077 != 0 {
        throw ToolError(
          "key file \(path) is accessible by others (mode \(String(info.st_mode & 0o777, radix: 8)))",
          hints: ["restrict it with: chmod 600 \(path)"])
      }
      if info.st_size > KeyFile.maxSize {
        throw ToolError("key file \(path) is too large to be a key file")
      }
    }

    // One byte more than the limit, to tell "too large" from "exactly at the limit" on pipes.
    let buffer = SecretBytes(count: KeyFile.maxSize + 1)
    let count = try buffer.withUnsafeMutableBytes { try fd.readFully(into: $0) }
    let key: KeyFile.Key
    do {
      key = try buffer.withUnsafeBytes { try KeyFile.parse(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
    } catch let error as ProtocolError {
      throw ToolError("\(path): \(error.description)", hints: ["key files are made by sc-keygen"])
    }
    if let type, key.type != type {
      throw ToolError("\(path) is a \(key.type.rawValue) key, but a \(type.rawValue) key is needed here")
    }
    return key
  }
}
