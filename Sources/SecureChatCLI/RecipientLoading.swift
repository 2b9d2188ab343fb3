import SecureChatCrypto
import SecureChatProtocol

#if canImport(Glibc)
  import Glibc
#endif

/// The recipients of `sc-seal -r KEY -R FILE` (FORMATS.md §12.2): public keys are not secret, so
/// they may come from argv and from files of any mode.
enum RecipientLoader {
  /// Every key of `-r` and of the `-R` files, duplicates merged, at most 64.
  static func load(keys: [String], files: [String]) throws -> [PublicKey] {
    var all: [PublicKey] = []
    for text in keys {
      do {
        all.append(try PublicKey(text: text.trimmingSpaces))
      } catch let error as ProtocolError {
        throw ToolError(error.description, hints: ["a public key is printed by: sc-keygen -y IDENTITY"])
      }
    }
    for path in files { all += try loadFile(path) }
    let distinct = RecipientFile.distinct(all)
    guard !distinct.isEmpty else { throw ToolError.usage("no recipients: the recipients files hold no public key") }
    guard distinct.count <= RecipientFile.maxRecipients else {
      throw ToolError.usage("at most \(RecipientFile.maxRecipients) recipients, not \(distinct.count)")
    }
    return distinct
  }

  private static func loadFile(_ path: String) throws -> [PublicKey] {
    let fd: FileDescriptor
    if path == "-" {
      try StandardDescriptors.requireOpen(.standardInput)
      fd = .standardInput
    } else {
      let raw = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)
      guard raw >= 0 else { throw ToolError.system("cannot read recipients file \(path)") }
      fd = FileDescriptor(rawValue: raw)
    }
    defer { if path != "-" { fd.close() } }
    var info = stat()
    if fstat(fd.rawValue, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR {
      throw ToolError("recipients file \(path) is a directory")
    }
    // One byte more than the limit, so that a larger file is seen as such.
    var bytes = [UInt8](repeating: 0, count: RecipientFile.maxRecipientsFileSize + 1)
    let count: Int
    do {
      count = try bytes.withUnsafeMutableBytes { try fd.readFully(into: $0) }
    } catch let error as ToolError {
      throw error.naming("recipients file \(path)")
    }
    guard count <= RecipientFile.maxRecipientsFileSize else {
      throw ToolError("recipients file \(path) is larger than \(RecipientFile.maxRecipientsFileSize) bytes")
    }
    do {
      return try RecipientFile.publicKeys(inList: Array(bytes[0..<count]))
    } catch let failure as RecipientFile.RecipientLineError {
      let detail = failure.error.description.dropFirst(failure.error.classWording.count)
      throw ToolError("\(failure.error.classWording) in \(path) line \(failure.line)\(detail)")
    }
  }
}

extension String {
  /// Without surrounding spaces and tabs (a key pasted with them is still the key).
  var trimmingSpaces: String { trimmingCharacters(in: [" ", "\t"]) }

  /// Without the characters of `set` at either end.
  func trimmingCharacters(in set: Set<Character>) -> String {
    var text = Substring(self)
    while let first = text.first, set.contains(first) { text.removeFirst() }
    while let last = text.last, set.contains(last) { text.removeLast() }
    return String(text)
  }
}
