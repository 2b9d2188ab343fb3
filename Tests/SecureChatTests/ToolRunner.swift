import Foundation
import SecureChatCrypto

@testable import SecureChatProtocol

#if canImport(Glibc)
  import Glibc
#endif

/// What a tool under test reads on standard input.
enum ToolInput {
  /// /dev/null.
  case none
  /// These bytes, through a pipe (written while the tool runs, so any size works).
  case bytes(Data)
  /// The file at this path, opened read-only as descriptor 0 (so stdin is a regular file).
  case file(String)
}

/// What a tool did: its exit status (128 + N when killed by signal N), its standard output
/// and its standard error.
struct ToolResult {
  let status: Int32
  let stdout: Data
  let stderr: String
}

struct ToolRunnerError: Error, CustomStringConvertible {
  let description: String
}

/// Runs the built tools (sc-keygen, sc-seal, sc-open) as child processes, with posix_spawn and
/// a poll(2) loop, so that standard input can be fed while standard output and standard error
/// are drained (no deadlock whatever the sizes) and a hung tool is killed after a timeout.
///
/// The tools are looked for in `$SC_BIN_DIR` if set, else next to the test bundle: on Linux
/// the `.xctest` bundle is itself the test executable (`CommandLine.arguments[0]`), in the
/// build's bin directory; on Darwin the executable is inside `X.xctest/Contents/MacOS/`, and
/// the directory that contains the `.xctest` is the bin directory.
enum ToolRunner {
  static let toolNames = ["sc-keygen", "sc-seal", "sc-open", "sc-handshake", "sc-logcheck"]

  /// The directory with the built tools, or nil with the places that were tried.
  static let binDirectory: Result<String, ToolRunnerError> = locateBinDirectory()

  static func path(of tool: String) throws -> String {
    switch binDirectory {
    case .success(let directory): return directory + "/" + tool
    case .failure(let error): throw error
    }
  }

  /// Runs `tool` (one of `toolNames`, from the bin directory) with `arguments`.
  /// `environment` is added to (and overrides) this process's environment.
  static func run(
    _ tool: String, _ arguments: [String], stdin: ToolInput = .none, environment: [String: String] = [:],
    directory: String? = nil, timeout: TimeInterval = 60
  ) throws -> ToolResult {
    try runExecutable(
      path(of: tool), arguments, stdin: stdin, environment: environment, directory: directory, timeout: timeout)
  }

  /// Runs `tool` with its standard output on a pseudo-terminal, using util-linux `script`.
  /// Standard error goes to a file (`stderrPath`) so that it is kept apart from the terminal
  /// output; the terminal is put in raw output mode (`stty -opost`) so the bytes that reach it
  /// come back unchanged. Returns nil when `script` is not available.
  static func runOnTerminal(
    _ tool: String, _ arguments: [String], stdinPath: String = "/dev/null", stderrPath: String
  ) throws -> ToolResult? {
    guard
      let script = ["/usr/bin/script", "/bin/script"].first(where: { FileManager.default.isExecutableFile(atPath: $0) })
    else { return nil }
    let command =
      "stty -opost 2>/dev/null; exec " + ([try path(of: tool)] + arguments).map(shellQuoted).joined(separator: " ")
      + " <" + shellQuoted(stdinPath) + " 2>" + shellQuoted(stderrPath)
    let result = try runExecutable(script, ["-qec", command, "/dev/null"], stdin: .none)
    let stderr = (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
    return ToolResult(status: result.status, stdout: result.stdout, stderr: stderr + result.stderr)
  }

  /// A copy of the session file at `path`, beside it under a new name, mode 0600. `sc-seal -s` and
  /// `sc-open -s` each zero the keys of their direction in the session file they read, and the
  /// second of them removes it (PROTOCOL.md §5), so a test that runs a tool more than once with
  /// one session, or reads the file afterwards, gives each run a copy of its own. Never a file of
  /// the repository (docs/vectors): tests write their session files to temporary directories.
  /// `alice.session` (initiator) and `bob.session` (responder) of one session with the given
  /// keys, in `directory`, mode 0600.
  static func writeSessionPair(in directory: String, aliceToBob: FrameKeys, bobToAlice: FrameKeys) throws {
    for (name, send, receive) in [("alice", aliceToBob, bobToAlice), ("bob", bobToAlice, aliceToBob)] {
      let session = SessionSecrets(
        role: name == "alice" ? .initiator : .responder, sessionID: [UInt8](repeating: 1, count: 16),
        localName: Array(name.utf8), peerName: Array((name == "alice" ? "bob" : "alice").utf8),
        transcriptHash: [UInt8](repeating: 2, count: 32), verificationCode: "000 000 000 000", send: send,
        receive: receive)
      guard
        FileManager.default.createFile(
          atPath: directory + "/\(name).session", contents: Data(SessionFile.serialize(session).copyForTesting()),
          attributes: [.posixPermissions: 0o600])
      else { throw ToolRunnerError(description: "cannot write \(name).session in \(directory)") }
    }
  }

  /// Spawn attributes for a tool: SIGPIPE back to its default action and no signal blocked,
  /// whatever XCTest set for itself (a tool must die of a closed pipe as it would from a shell).
  /// `alsoFlags`: further POSIX_SPAWN_* flags the caller has set attributes for.
  static func restoreSignals(_ attributes: inout posix_spawnattr_t, alsoFlags: Int32 = 0) {
    var defaults = sigset_t()
    sigemptyset(&defaults)
    sigaddset(&defaults, SIGPIPE)
    posix_spawnattr_setsigdefault(&attributes, &defaults)
    var mask = sigset_t()
    sigemptyset(&mask)
    posix_spawnattr_setsigmask(&attributes, &mask)
    posix_spawnattr_setflags(&attributes, Int16(Int32(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK) | alsoFlags))
  }

  static func sessionCopy(_ path: String) throws -> String {
    let copy = path + "." + UUID().uuidString.prefix(8)
    guard let bytes = FileManager.default.contents(atPath: path),
      FileManager.default.createFile(atPath: copy, contents: bytes, attributes: [.posixPermissions: 0o600])
    else { throw ToolRunnerError(description: "cannot copy the session file \(path)") }
    return copy
  }

  static func shellQuoted(_ word: String) -> String {
    "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
  }

  // MARK: - Finding the tools

  private static func locateBinDirectory() -> Result<String, ToolRunnerError> {
    let fileManager = FileManager.default
    if let override = ProcessInfo.processInfo.environment["SC_BIN_DIR"], !override.isEmpty {
      let missing = toolNames.filter { !fileManager.isExecutableFile(atPath: override + "/" + $0) }
      guard missing.isEmpty else {
        return .failure(ToolRunnerError(description: "SC_BIN_DIR=\(override) lacks \(missing.joined(separator: ", "))"))
      }
      return .success(override)
    }
    var candidates: [String] = []
    // The path of the running executable: on Linux, the .xctest file itself.
    if let first = CommandLine.arguments.first, !first.isEmpty {
      let absolute =
        first.hasPrefix("/") ? first : fileManager.currentDirectoryPath + "/" + first
      candidates.append(URL(fileURLWithPath: absolute).resolvingSymlinksInPath().path)
    }
    if let executable = try? fileManager.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
      candidates.append(executable)
    }
    // A loaded .xctest bundle (Darwin, or a Linux runner that loads bundles).
    for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
      candidates.append(bundle.bundlePath)
    }
    var tried: [String] = []
    for candidate in candidates {
      var url = URL(fileURLWithPath: candidate)
      // Up to the directory that contains the .xctest (it may be the executable or a bundle
      // with the executable inside).
      let components = url.pathComponents
      if let index = components.lastIndex(where: { $0.hasSuffix(".xctest") }) {
        url = URL(fileURLWithPath: NSString.path(withComponents: Array(components[..<index])))
      } else {
        url = url.deletingLastPathComponent()
      }
      let directory = url.path
      tried.append(directory)
      if toolNames.allSatisfy({ fileManager.isExecutableFile(atPath: directory + "/" + $0) }) {
        return .success(directory)
      }
    }
    return .failure(
      ToolRunnerError(
        description: "the tools \(toolNames.joined(separator: ", ")) are not built next to the tests (looked in "
          + tried.joined(separator: ", ") + "); run `swift build` first or set SC_BIN_DIR"))
  }

  // MARK: - Running a process

  /// The tools must get the default SIGPIPE action, but this process must ignore SIGPIPE so
  /// that a tool that exits without reading all its input does not kill the test runner.
  private static let ignoreSIGPIPE: Void = { _ = signal(SIGPIPE, SIG_IGN) }()

  static func runExecutable(
    _ executable: String, _ arguments: [String], stdin: ToolInput, environment: [String: String] = [:],
    directory: String? = nil, timeout: TimeInterval = 60
  ) throws -> ToolResult {
    _ = ignoreSIGPIPE

    func makePipe() throws -> (read: Int32, write: Int32) {
      // pipe2(O_CLOEXEC) is not imported without _GNU_SOURCE; the tests spawn from one thread.
      var fds: [Int32] = [-1, -1]
      guard pipe(&fds) == 0 else { throw ToolRunnerError(description: "pipe: \(errnoText())") }
      for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
      return (fds[0], fds[1])
    }

    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    var childEnds: [Int32] = []
    var inputWrite: Int32 = -1
    var inputBytes = Data()
    switch stdin {
    case .none:
      posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    case .file(let path):
      posix_spawn_file_actions_addopen(&actions, 0, path, O_RDONLY, 0)
    case .bytes(let bytes):
      let input = try makePipe()
      posix_spawn_file_actions_adddup2(&actions, input.read, 0)
      childEnds.append(input.read)
      inputWrite = input.write
      inputBytes = bytes
    }
    let output = try makePipe()
    let errors = try makePipe()
    posix_spawn_file_actions_adddup2(&actions, output.write, 1)
    posix_spawn_file_actions_adddup2(&actions, errors.write, 2)
    childEnds += [output.write, errors.write]

    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    restoreSignals(&attributes)

    var environmentValues = ProcessInfo.processInfo.environment
    for (key, value) in environment { environmentValues[key] = value }
    // posix_spawn_file_actions_addchdir_np is not imported either: change directory in a shell.
    let command =
      directory.map { ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", $0, executable] } ?? [executable]
    let argv: [UnsafeMutablePointer<CChar>?] = (command + arguments).map { strdup($0) } + [nil]
    let envp: [UnsafeMutablePointer<CChar>?] = environmentValues.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer {
      for pointer in argv { free(pointer) }
      for pointer in envp { free(pointer) }
    }

    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, command[0], &actions, &attributes, argv, envp)
    for fd in childEnds { close(fd) }
    guard spawned == 0 else {
      for fd in [inputWrite, output.read, errors.read] where fd >= 0 { close(fd) }
      throw ToolRunnerError(description: "cannot run \(executable): \(String(cString: strerror(spawned)))")
    }

    if inputWrite >= 0 {
      _ = fcntl(inputWrite, F_SETFL, fcntl(inputWrite, F_GETFL) | O_NONBLOCK)
      if inputBytes.isEmpty {
        close(inputWrite)
        inputWrite = -1
      }
    }
    var inputOffset = 0
    var outputFD = output.read
    var errorFD = errors.read
    var stdoutData = Data()
    var stderrData = Data()
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    let deadline = Date().addingTimeInterval(timeout)
    var timedOut = false

    while inputWrite >= 0 || outputFD >= 0 || errorFD >= 0 {
      let remaining = deadline.timeIntervalSinceNow
      if remaining <= 0 {
        timedOut = true
        kill(pid, SIGKILL)
        break
      }
      var fds: [pollfd] = []
      if inputWrite >= 0 { fds.append(pollfd(fd: inputWrite, events: Int16(POLLOUT), revents: 0)) }
      if outputFD >= 0 { fds.append(pollfd(fd: outputFD, events: Int16(POLLIN), revents: 0)) }
      if errorFD >= 0 { fds.append(pollfd(fd: errorFD, events: Int16(POLLIN), revents: 0)) }
      let ready = poll(&fds, nfds_t(fds.count), Int32(min(remaining, 1) * 1000) + 1)
      if ready < 0 {
        if errno == EINTR { continue }
        throw ToolRunnerError(description: "poll: \(errnoText())")
      }
      for entry in fds where entry.revents != 0 {
        if entry.fd == inputWrite {
          let count = min(inputBytes.count - inputOffset, 1 << 16)
          let written = inputBytes.withUnsafeBytes { write(inputWrite, $0.baseAddress! + inputOffset, count) }
          if written > 0 {
            inputOffset += written
          } else if written < 0 && errno != EAGAIN && errno != EINTR {
            // EPIPE: the tool stopped reading; what it did not read is its business.
            inputOffset = inputBytes.count
          }
          if inputOffset == inputBytes.count {
            close(inputWrite)
            inputWrite = -1
          }
        } else {
          let count = buffer.withUnsafeMutableBytes { read(entry.fd, $0.baseAddress!, $0.count) }
          if count > 0 {
            buffer.withUnsafeBytes {
              let chunk = UnsafeRawBufferPointer(rebasing: $0[0..<count])
              if entry.fd == outputFD {
                stdoutData.append(contentsOf: chunk)
              } else {
                stderrData.append(contentsOf: chunk)
              }
            }
          } else if count == 0 || (errno != EAGAIN && errno != EINTR) {
            close(entry.fd)
            if entry.fd == outputFD { outputFD = -1 } else { errorFD = -1 }
          }
        }
      }
    }
    for fd in [inputWrite, outputFD, errorFD] where fd >= 0 { close(fd) }

    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 {
      guard errno == EINTR else { throw ToolRunnerError(description: "waitpid: \(errnoText())") }
    }
    if timedOut {
      throw ToolRunnerError(
        description: "\(executable) \(arguments.joined(separator: " ")) did not finish within \(Int(timeout)) s")
    }
    // WIFEXITED / WEXITSTATUS / WTERMSIG are macros that Swift does not import.
    let signalNumber = status & 0x7f
    let exitStatus = signalNumber == 0 ? (status >> 8) & 0xff : 128 + signalNumber
    return ToolResult(
      status: exitStatus, stdout: stdoutData, stderr: String(decoding: stderrData, as: UTF8.self))
  }

  private static func errnoText() -> String { String(cString: strerror(errno)) }
}

extension ToolRunner {
  /// A port that was free a moment ago on 127.0.0.1 (bound to port 0, then released).
  static func freeLoopbackPort() throws -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw ToolRunnerError(description: "socket failed") }
    defer { close(fd) }
    var address = Loopback.address(port: 0)
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Bool in
        bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
      }
    }
    guard bound else { throw ToolRunnerError(description: "cannot bind 127.0.0.1:0") }
    return UInt16(bigEndian: address.sin_port)
  }
}
