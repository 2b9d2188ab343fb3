import SecureChatProtocol

#if canImport(Glibc)
  import Glibc
#endif

/// The vector files of docs/vectors (format: docs/FORMATS.md §6.1), read to make seed corpora.
struct Vectors {
  struct Vector {
    let name: String
    let fields: [String: String]
    let data: [UInt8]
  }

  let all: [Vector]

  init(directory: String) throws {
    all = try Files.list(directory).filter { $0.hasSuffix(".vector") }.map { path in
      let text = try Files.read(path)
      let name = String(path.split(separator: "/").last!.dropLast(".vector".count))
      guard let blank = text.indices.first(where: { text[$0] == 0x0a && $0 + 1 < text.count && text[$0 + 1] == 0x0a })
      else { throw FuzzToolError("\(path): no blank line after the header") }
      var fields: [String: String] = [:]
      for line in text[..<blank].split(separator: 0x0a) {
        let pair = line.split(separator: UInt8(ascii: ":"), maxSplits: 1)
        fields[String(decoding: pair[0], as: UTF8.self)] =
          pair.count > 1 ? String(decoding: pair[1].drop { $0 == 0x20 }, as: UTF8.self) : ""
      }
      let hex = text[(blank + 2)...].filter { $0 != 0x0a }
      guard let data = [UInt8](hexString: String(decoding: hex, as: UTF8.self)) else {
        throw FuzzToolError("\(path): the data is not hex")
      }
      return Vector(name: name, fields: fields, data: data)
    }
  }

  /// The data of every vector of `kind`.
  func data(ofKind kind: String) -> [(name: String, bytes: [UInt8])] {
    all.filter { $0.fields["kind"] == kind }.map { ($0.name, $0.data) }
  }

  /// The version 2 failure vectors' R2 (control byte 0) and I3 (control byte 1), for handshake-v2.
  func handshakeV2Messages() -> [(name: String, bytes: [UInt8])] {
    all.compactMap { vector in
      guard vector.fields["kind"] == "handshake-failure", vector.fields["version"] == "2" else { return nil }
      let toInitiator = vector.fields["role"] == "initiator"
      guard let hex = vector.fields[toInitiator ? "receive-2" : "receive-3"], let message = [UInt8](hexString: hex)
      else { return nil }
      return (vector.name, [toInitiator ? 0 : 1] + message)
    }
  }

  /// The messages that the handshake-failure vectors give a machine waiting for `stage`.
  func handshakeMessages(waitingFor stage: HandshakeMessageType) -> [(name: String, bytes: [UInt8])] {
    let (role, field) =
      switch stage {
      case .initiatorHello: ("responder", "receive-1")
      case .responderHello: ("initiator", "receive-1")
      case .initiatorAuth: ("responder", "receive-2")
      case .responderAuth, .abort, .initiatorIdentity, .responderConfirmation: ("initiator", "receive-2")
      }
    return all.compactMap { vector in
      guard vector.fields["kind"] == "handshake-failure", vector.fields["role"] == role,
        vector.fields["version"] == nil, let hex = vector.fields[field], let message = [UInt8](hexString: hex)
      else { return nil }
      return (vector.name, message)
    }
  }
}

struct FuzzToolError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}

/// Just enough file handling for seeds and replays, without Foundation.
enum Files {
  static func isDirectory(_ path: String) -> Bool {
    var info = stat()
    return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
  }

  /// The regular files under `path` (itself, if it is a file), sorted.
  static func list(_ path: String) throws -> [String] {
    guard isDirectory(path) else { return [path] }
    guard let directory = opendir(path) else { throw FuzzToolError("cannot read the directory \(path)") }
    defer { closedir(directory) }
    var found: [String] = []
    while let entry = readdir(directory) {
      let name = withUnsafeBytes(of: entry.pointee.d_name) {
        String(cString: $0.bindMemory(to: CChar.self).baseAddress!)
      }
      if name == "." || name == ".." { continue }
      found += try list(path + "/" + name)
    }
    return found.sorted()
  }

  static func read(_ path: String) throws -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw FuzzToolError("cannot open \(path)") }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    while true {
      let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
      guard n >= 0 else { throw FuzzToolError("cannot read \(path)") }
      if n == 0 { return bytes }
      bytes += buffer[0..<n]
    }
  }

  static func write(_ bytes: [UInt8], to path: String) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw FuzzToolError("cannot create \(path)") }
    defer { close(fd) }
    var offset = 0
    while offset < bytes.count {
      let n = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
      guard n > 0 else { throw FuzzToolError("cannot write \(path)") }
      offset += n
    }
  }

  static func makeDirectory(_ path: String) throws {
    guard mkdir(path, 0o755) == 0 || (errno == EEXIST && isDirectory(path)) else {
      throw FuzzToolError("cannot create the directory \(path)")
    }
  }
}
