import SecureChatCrypto
import SecureChatProtocol

#if canImport(Glibc)
  import Glibc
#endif

/// DESIGN.md's exit statuses, the same in every tool.
public enum ExitStatus: Int32, Sendable {
  case success = 0
  /// A cryptographic or integrity check failed: do not trust the data.
  case integrityFailure = 1
  /// Usage error, unusable key file, I/O error, or input that is not ours.
  case operationalFailure = 2
}

/// An error a tool reports as one `tool: error: …` line, optional `tool: hint: …` lines and an exit status.
public struct ToolError: Error, Sendable {
  public let message: String
  public let hints: [String]
  public let status: ExitStatus

  public init(_ message: String, hints: [String] = [], status: ExitStatus = .operationalFailure) {
    self.message = message
    self.hints = hints
    self.status = status
  }

  public static func usage(_ message: String) -> ToolError {
    ToolError(message, hints: ["run with --help for usage"])
  }

  /// Maps a protocol error to its exit class (FORMATS.md §5).
  public init(_ error: ProtocolError) {
    self.init(error.description, status: error.isIntegrityFailure ? .integrityFailure : .operationalFailure)
  }

  /// A failed read(2) or write(2) ("read failed: …", from FileDescriptor) told with the file it
  /// was on: "cannot read the log x.log: input/output error". Other errors are kept as they are.
  public func naming(_ file: String, reads: Bool = true, writes: Bool = true) -> ToolError {
    let kinds = (reads ? [("read failed: ", "read")] : []) + (writes ? [("write failed: ", "write")] : [])
    for (prefix, verb) in kinds where message.hasPrefix(prefix) {
      return ToolError("cannot \(verb) \(file): \(message.dropFirst(prefix.count))", hints: hints, status: status)
    }
    return self
  }

  /// An error from a system call, with strerror's text in lowercase.
  public static func system(_ what: String, errno code: Int32 = errno) -> ToolError {
    ToolError("\(what): \(String(cString: strerror(code)).lowercased())")
  }
}

extension ProtocolError {
  /// The description of an error found in the file at `path`, still starting with the words of
  /// its class (FORMATS.md §5): `invalid key file k.key: no key line`, or
  /// `unsupported key file version (k.key)`.
  func naming(_ path: String) -> String {
    let text = description
    guard text.hasPrefix(classWording + ": ") else { return "\(text) (\(path))" }
    return "\(classWording) \(path): \(text.dropFirst(classWording.count + 2))"
  }
}

/// Writes diagnostics to stderr; never data, never secrets.
public enum Diagnostics {
  nonisolated(unsafe) public private(set) static var toolName = "securechat"

  public static func setToolName(_ name: String) { toolName = name }

  public static func error(_ message: String) { emit("error", message) }
  public static func hint(_ message: String) { emit("hint", message) }
  public static func warning(_ message: String) { emit("warning", message) }
  public static func info(_ message: String) { emitLine("\(toolName): \(message)") }

  private static func emit(_ kind: String, _ message: String) {
    emitLine("\(toolName): \(kind): \(message)")
  }

  private static func emitLine(_ line: String) {
    var bytes = Array(line.utf8)
    bytes.append(UInt8(ascii: "\n"))
    bytes.withUnsafeBytes { _ = try? FileDescriptor.standardError.writeAll($0) }
  }
}

/// Runs a tool's body and turns every error into its diagnostic and exit status.
public func runTool(_ name: String, _ body: () throws -> Void) -> Never {
  // Before anything is read: no core dump, no crash report with memory in it.
  ProcessHardening.apply()
  Diagnostics.setToolName(name)
  StandardDescriptors.reserve()
  do {
    try body()
    finish(.success)
  } catch let error as ToolError {
    Diagnostics.error(error.message)
    for hint in error.hints { Diagnostics.hint(hint) }
    finish(error.status)
  } catch let error as ProtocolError {
    Diagnostics.error(error.description)
    finish(ToolError(error).status)
  } catch let defect as LogDefect {
    Diagnostics.error(defect.description)
    finish(.integrityFailure)
  } catch {
    Diagnostics.error("\(error)")
    finish(.operationalFailure)
  }
}

/// Flushes stdio and leaves without running library destructors: every output was written with
/// write(2) or is flushed here, temporary files are already committed or removed, and the kernel
/// frees the rest faster than OpenSSL's and libdispatch's clean-up would.
private func finish(_ status: ExitStatus) -> Never {
  fflush(nil)
  _exit(status.rawValue)
}
