import Foundation
import SecureChatCrypto
import XCTest

@testable import SecureChatProtocol

#if canImport(Glibc)
  import Glibc
#endif

/// Secrets in the memory of running tools (issue 12, finding 4): `sc-seal -s` holds the send keys
/// of its session and never the receive keys, `sc-open -s` the reverse; no tool can leave a core
/// dump. The tools run as real processes, kept alive by an input pipe this test holds open, and
/// their memory is read through /proc/PID/maps and /proc/PID/mem (as root, which may read the
/// memory of a process that is not dumpable).
final class SecretMemoryTests: XCTestCase {
  private var directory = ""
  private var children: [pid_t] = []
  private var descriptors: [Int32] = []
  private let aliceToBob = FrameKeys(encryption: .random(count: 32), authentication: .random(count: 32))
  private let bobToAlice = FrameKeys(encryption: .random(count: 32), authentication: .random(count: 32))

  override func setUpWithError() throws {
    try super.setUpWithError()
    signal(SIGPIPE, SIG_IGN)
    directory = FileManager.default.temporaryDirectory.appendingPathComponent("sc-memory-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    try ToolRunner.writeSessionPair(in: directory, aliceToBob: aliceToBob, bobToAlice: bobToAlice)
    XCTAssertEqual(try ToolRunner.run("sc-keygen", ["-o", path("k.key")]).status, 0)
  }

  override func tearDownWithError() throws {
    for pid in children {
      kill(pid, SIGKILL)
      var status: Int32 = 0
      while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }
    children = []
    for fd in descriptors { close(fd) }
    descriptors = []
    try? FileManager.default.removeItem(atPath: directory)
    try super.tearDownWithError()
  }

  private func path(_ name: String) -> String { directory + "/" + name }

  // MARK: - Running tools

  /// A tool reading from a pipe this test writes to and writing to a pipe it reads.
  private struct RunningTool {
    let pid: pid_t
    let input: Int32
    let output: Int32
  }

  /// Starts `tool` with `arguments` through `sh -c` (so that `shellPrefix`, e.g. a ulimit, applies
  /// to it), in `workingDirectory`, with standard error to a file. By default the soft limit on
  /// core files is raised to the hard one, so that a core file size limit of 0 0 in the tool is
  /// its own doing.
  private func start(
    _ tool: String, _ arguments: [String], shellPrefix: String = "ulimit -S -c \"$(ulimit -H -c)\"; ",
    workingDirectory: String? = nil
  ) throws -> RunningTool {
    let input = try closeOnExecPipe()
    let output = try closeOnExecPipe()
    descriptors += [input.write, output.read]
    defer {
      close(input.read)
      close(output.write)
    }
    let q = ToolRunner.shellQuoted
    let command =
      (workingDirectory.map { "cd \(q($0)) && " } ?? "") + shellPrefix + "exec "
      + ([try ToolRunner.path(of: tool)] + arguments).map(q).joined(separator: " ") + " 2>>" + q(path("stderr"))
    let pid = try spawnTool(
      ["/bin/sh", "-c", command], descriptors: [0: input.read, 1: output.write, 2: output.write])
    children.append(pid)
    return RunningTool(pid: pid, input: input.write, output: output.read)
  }

  private func write(_ tool: RunningTool, _ bytes: [UInt8]) throws {
    let written = bytes.withUnsafeBytes { Glibc.write(tool.input, $0.baseAddress!, $0.count) }
    guard written == bytes.count else { throw ToolRunnerError(description: "cannot write to the tool") }
  }

  /// Reads from the tool's output until `count` bytes have come (at most 20 s).
  private func read(_ tool: RunningTool, count: Int) throws -> [UInt8] {
    var bytes: [UInt8] = []
    let deadline = Date().addingTimeInterval(20)
    var buffer = [UInt8](repeating: 0, count: 65536)
    while bytes.count < count {
      var fds = [pollfd(fd: tool.output, events: Int16(POLLIN), revents: 0)]
      guard Date() < deadline, poll(&fds, 1, 200) >= 0 else { break }
      guard fds[0].revents != 0 else { continue }
      let n = buffer.withUnsafeMutableBytes { Glibc.read(tool.output, $0.baseAddress!, $0.count) }
      guard n > 0 else { break }
      bytes += buffer[0..<n]
    }
    guard bytes.count >= count else {
      let stderr = (try? String(contentsOfFile: path("stderr"), encoding: .utf8)) ?? ""
      throw ToolRunnerError(description: "the tool wrote \(bytes.count) of \(count) bytes; stderr: \(stderr)")
    }
    return bytes
  }

  /// Sends `signal` and waits (at most 10 s) for the tool to end: its status, 128 + N if a signal
  /// N ended it, or nil if it outlived the signal (it is then killed).
  private func stop(_ tool: RunningTool, signal: Int32 = SIGKILL) -> Int32? {
    kill(tool.pid, signal)
    var status: Int32 = 0
    let deadline = Date().addingTimeInterval(10)
    while waitpid(tool.pid, &status, WNOHANG) != tool.pid {
      guard Date() < deadline else { return nil }
      usleep(10_000)
    }
    children.removeAll { $0 == tool.pid }
    let signalNumber = status & 0x7f
    return signalNumber == 0 ? (status >> 8) & 0xff : 128 + signalNumber
  }

  // MARK: - Reading a process's memory

  /// Which of `needles` occur somewhere in the readable memory of process `pid`, and where (the
  /// line of /proc/PID/maps of the first place found). Regions larger than 1 GiB are skipped:
  /// AddressSanitizer's shadow memory (reserved, mostly never touched) holds no data of the program.
  private func needlesFound(in pid: pid_t, _ needles: [String: [UInt8]]) throws -> [String: String] {
    let maps = try String(contentsOfFile: "/proc/\(pid)/maps", encoding: .utf8)
    let mem = open("/proc/\(pid)/mem", O_RDONLY | O_CLOEXEC)
    guard mem >= 0 else {
      throw XCTSkip("cannot open /proc/\(pid)/mem: \(String(cString: strerror(errno))) (needs root or CAP_SYS_PTRACE)")
    }
    defer { close(mem) }
    var found: [String: String] = [:]
    var scanned = 0
    let overlap = 64
    var buffer = [UInt8](repeating: 0, count: (1 << 20) + overlap)
    // Bytes kept from the end of the previous chunk, so that a key across two chunks is seen; also
    // across two regions that touch (mlock(2) splits the heap into regions at page boundaries).
    var carried = 0
    var previousEnd: UInt64 = 0
    for line in maps.split(separator: "\n") {
      let fields = line.split(separator: " ", omittingEmptySubsequences: true)
      guard fields.count >= 2, fields[1].hasPrefix("r") else { continue }
      let bounds = fields[0].split(separator: "-").compactMap { UInt64($0, radix: 16) }
      guard bounds.count == 2, bounds[1] - bounds[0] <= 1 << 30 else { continue }
      var offset = bounds[0]
      if offset != previousEnd { carried = 0 }
      previousEnd = bounds[1]
      while offset < bounds[1] {
        let want = Int(min(UInt64(1 << 20), bounds[1] - offset))
        let n = buffer.withUnsafeMutableBytes { pread(mem, $0.baseAddress! + carried, want, off_t(offset)) }
        guard n > 0 else {  // [vvar] and the like cannot be read
          carried = 0
          previousEnd = 0
          break
        }
        scanned += n
        let valid = carried + n
        buffer.withUnsafeBytes { chunk in
          for (name, needle) in needles where found[name] == nil {
            if contains(UnsafeRawBufferPointer(rebasing: chunk[0..<valid]), needle) { found[name] = String(line) }
          }
        }
        carried = min(overlap, valid)
        buffer.withUnsafeMutableBytes {
          $0.baseAddress!.copyMemory(from: $0.baseAddress! + valid - carried, byteCount: carried)
        }
        offset += UInt64(n)
      }
    }
    XCTAssertGreaterThan(scanned, 1 << 20, "read only \(scanned) bytes of process \(pid)")
    return found
  }

  /// memmem (which Swift's Glibc module does not export): memchr for a byte of the needle that is
  /// neither 0x00 nor 0xff (rare in memory), then memcmp.
  private func contains(_ haystack: UnsafeRawBufferPointer, _ needle: [UInt8]) -> Bool {
    guard haystack.count >= needle.count, let base = haystack.baseAddress else { return false }
    let anchor = needle.firstIndex { $0 != 0 && $0 != 0xff } ?? 0
    var position = anchor
    let last = haystack.count - (needle.count - anchor)
    return needle.withUnsafeBytes { n in
      while position <= last {
        guard let hit = memchr(base + position, Int32(needle[anchor]), last - position + 1) else { return false }
        let at = base.distance(to: UnsafeRawPointer(hit))
        if memcmp(base + at - anchor, n.baseAddress!, needle.count) == 0 { return true }
        position = at + 1
      }
      return false
    }
  }

  private func keys(_ keys: FrameKeys, _ label: String) -> [String: [UInt8]] {
    [
      "\(label) encryption key": keys.encryption.copyForTesting(),
      "\(label) authentication key": keys.authentication.copyForTesting(),
    ]
  }

  private func coreFileSizeLimit(_ pid: pid_t) throws -> String? {
    let limits = try String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8)
    guard let line = limits.split(separator: "\n").first(where: { $0.hasPrefix("Max core file size") }) else {
      return nil
    }
    // "Max core file size  SOFT  HARD  bytes"
    return line.split(separator: " ", omittingEmptySubsequences: true).dropFirst(4).prefix(2).joined(separator: " ")
  }

  // MARK: - Tests

  /// A running `sc-seal -s` holds the send keys of its session (OpenSSL's HMAC keeps a copy of its
  /// key, so the send authentication key is visible: the control that the scan sees keys at all)
  /// and neither receive key anywhere in its memory; its core file size limit is 0.
  func testSealHoldsNoReceiveKeys() throws {
    let seal = try start("sc-seal", ["-s", path("alice.session")])
    try write(seal, Array("hello\n".utf8))
    // One frame of 6 bytes: the session is loaded, the keys are in use.
    _ = try read(seal, count: RecordLayer.frameSize(plaintextCount: 6))
    XCTAssertEqual(try coreFileSizeLimit(seal.pid), "0 0")
    let found = try needlesFound(
      in: seal.pid, keys(bobToAlice, "receive").merging(keys(aliceToBob, "send")) { a, _ in a })
    XCTAssertTrue(found["send authentication key"] != nil, "the scan did not find the key in use: \(found)")
    XCTAssertNil(found["receive encryption key"], "sc-seal -s holds the receive encryption key")
    XCTAssertNil(found["receive authentication key"], "sc-seal -s holds the receive authentication key")
  }

  /// The same for `sc-open -s`: the receive keys only.
  func testOpenHoldsNoSendKeys() throws {
    let open = try start("sc-open", ["-s", path("bob.session")])
    try write(open, try FrameSealer(keys: aliceToBob).seal(Array("hello\n".utf8), isFinal: false))
    XCTAssertEqual(try read(open, count: 6), Array("hello\n".utf8))
    XCTAssertEqual(try coreFileSizeLimit(open.pid), "0 0")
    let found = try needlesFound(
      in: open.pid, keys(aliceToBob, "receive").merging(keys(bobToAlice, "send")) { a, _ in a })
    XCTAssertTrue(found["receive authentication key"] != nil, "the scan did not find the key in use: \(found)")
    XCTAssertNil(found["send encryption key"], "sc-open -s holds the send encryption key")
    XCTAssertNil(found["send authentication key"], "sc-open -s holds the send authentication key")
  }

  /// sc-handshake holds the pre-shared key while it waits for its peer: no core either.
  func testHandshakeCoreLimitIsZero() throws {
    let handshake = try start(
      "sc-handshake", ["--responder", "-k", path("k.key"), "-n", "bob", "-o", path("x.session"), "--timeout", "20"])
    // It is waiting for the initiator once its limits are set; give it the time to start.
    let deadline = Date().addingTimeInterval(10)
    var limit: String?
    while Date() < deadline {
      limit = try? coreFileSizeLimit(handshake.pid)
      if limit == "0 0" { break }
      usleep(20_000)
    }
    XCTAssertEqual(limit, "0 0")
  }

  /// SIGABRT to a running `sc-seal -s` started with `ulimit -c unlimited` in an empty directory
  /// writes no core there. The control: `sleep`, started the same way, does leave a core (else this
  /// machine writes no core files where the test can see them, and the test is skipped).
  func testNoCoreOnAbort() throws {
    let pattern = (try? String(contentsOfFile: "/proc/sys/kernel/core_pattern", encoding: .utf8)) ?? ""
    if pattern.hasPrefix("|") || pattern.contains("/") {
      throw XCTSkip("core_pattern is \(pattern.trimmingCharacters(in: .whitespacesAndNewlines)): not a file here")
    }
    func cores(_ directory: String) -> [String] {
      ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasPrefix("core") }
    }
    let control = path("control")
    try FileManager.default.createDirectory(atPath: control, withIntermediateDirectories: true)
    let sleeper = try spawnTool(
      ["/bin/sh", "-c", "cd \(ToolRunner.shellQuoted(control)) && ulimit -c unlimited && exec sleep 30"],
      descriptors: [:])
    children.append(sleeper)
    usleep(300_000)
    _ = stop(RunningTool(pid: sleeper, input: -1, output: -1), signal: SIGABRT)
    if cores(control).isEmpty { throw XCTSkip("no core file appeared for an aborted sleep: this machine writes none") }

    let empty = path("cwd")
    try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
    let seal = try start(
      "sc-seal", ["-s", path("alice.session")], shellPrefix: "ulimit -c unlimited && ", workingDirectory: empty)
    try write(seal, Array("hello\n".utf8))
    _ = try read(seal, count: RecordLayer.frameSize(plaintextCount: 6))
    XCTAssertEqual(stop(seal, signal: SIGABRT), 128 + SIGABRT, "sc-seal did not end by SIGABRT")
    XCTAssertEqual(cores(empty), [], "sc-seal left a core file")
  }
}
