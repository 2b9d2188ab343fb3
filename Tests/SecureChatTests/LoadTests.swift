import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// Many live sessions at once over 127.0.0.1 TCP, every one a full session of the real tools
/// (sc-handshake, sc-open, sc-seal on each side; `LiveSession`), each side sending its messages
/// while it receives the other's. Every message carries its session, sender and index, and each
/// sc-open's output is compared byte for byte with what the peer sent, as it arrives: zero lost,
/// zero reordered, zero errors. Every other session runs the identity handshake (protocol version 2).
///
/// `make check` runs 20 sessions of 1,000 messages each way; `make soak` (scripts/soak.sh) runs
/// LOAD_SESSIONS (200) sessions of LOAD_MESSAGES (10,000) messages each way. The report gives the
/// time, and the memory of the tools: the sum of the peak resident memory of every tool process
/// (VmHWM in /proc/PID/status, read every 100 ms while it runs: wait4's ru_maxrss would count
/// this test process's memory, which a posix_spawn child shares until it execs), the largest sum
/// of the resident memory of the tools alive at one time, and how far the machine's available
/// memory fell.
final class LoadTests: XCTestCase {
  private var directory = ""

  override func setUpWithError() throws {
    try super.setUpWithError()
    for tool in ToolRunner.toolNames { _ = try ToolRunner.path(of: tool) }
    let base = FileManager.default.isWritableFile(atPath: "/dev/shm") ? "/dev/shm/" : NSTemporaryDirectory()
    var template = Array(((base.hasSuffix("/") ? base : base + "/") + "sc-load-XXXXXX").utf8CString)
    guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
      throw ToolRunnerError(description: "mkdtemp failed")
    }
    directory = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    let result = try ToolRunner.run("sc-keygen", ["-o", directory + "/k.key"])
    guard result.status == 0 else { throw ToolRunnerError(description: "sc-keygen failed: \(result.stderr)") }
    identities = (
      try LiveSession.Identity.make(directory + "/alice.id"), try LiveSession.Identity.make(directory + "/bob.id")
    )
  }

  private var identities: (alice: LiveSession.Identity, bob: LiveSession.Identity)?

  override func tearDownWithError() throws {
    if !directory.isEmpty { try? FileManager.default.removeItem(atPath: directory) }
    try super.tearDownWithError()
  }

  func testConcurrentSessionsLoseNothing() throws {
    let environment = ProcessInfo.processInfo.environment
    let sessions = environment["LOAD_SESSIONS"].flatMap { Int($0) } ?? 20
    let messages = environment["LOAD_MESSAGES"].flatMap { Int($0) } ?? 1000
    // Each session holds about 12 descriptors here while it starts.
    var limit = rlimit()
    getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    if limit.rlim_cur < rlim_t(sessions * 16 + 256) {
      limit.rlim_cur = min(limit.rlim_max, rlim_t(sessions * 16 + 256))
      setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }

    let loop = PeerLoop()
    var checkers: [String: ExpectedLines] = [:]
    var finished: [LiveSession] = []
    var all: [LiveSession] = []
    let start = StreamRelay.now()
    for index in 0..<sessions {
      for (receiver, sender) in [("alice", "bob"), ("bob", "alice")] {
        checkers["\(index) \(receiver)"] = ExpectedLines(LineSource(session: index, sender: sender, count: messages))
      }
      // Every other session runs protocol version 2, with identities.
      let credentials: LiveSession.Credentials =
        index % 2 == 0
        ? .preSharedKey(directory + "/k.key") : .identities(alice: identities!.alice, bob: identities!.bob)
      let session = try LiveSession(
        loop: loop, directory: directory, prefix: "s\(index)-", credentials: credentials,
        handshakeTimeout: 120,
        editors: nil,
        output: { side, chunk in
          let checker = checkers["\(index) \(side.name)"]!
          if let chunk { checker.receive(chunk) } else { checker.end() }
        },
        input: { side in
          let source = LineSource(session: index, sender: side.name, count: messages)
          return { source.nextChunk() }
        },
        onDone: { finished.append($0) })
      all.append(session)
    }
    var peakLiveKiB = 0
    var highWater: [pid_t: Int] = [:]
    let availableBefore = Self.memAvailableKiB()
    var lowestAvailable = availableBefore
    var lastSample = 0.0
    let deadline = start + 1800
    while finished.count < sessions {
      loop.runOnce(timeout: 10)
      let now = StreamRelay.now()
      for session in all {
        session.enforce(deadline: deadline)
        session.checkDone()
      }
      if now - lastSample > 0.1 {
        lastSample = now
        var live = 0
        for pid in loop.liveChildren {
          let (resident, peak) = Self.memoryKiB(pid)
          live += resident
          if peak > 0 { highWater[pid] = max(highWater[pid] ?? 0, peak) }
        }
        peakLiveKiB = max(peakLiveKiB, live)
        lowestAvailable = min(lowestAvailable, Self.memAvailableKiB())
      }
    }
    let seconds = StreamRelay.now() - start

    var failures: [String] = []
    var received = 0
    var rssByTool: [Int] = []
    var largest: [String: Int] = [:]
    for (index, session) in all.enumerated() {
      if session.killed { failures.append("session \(index) did not finish within 30 minutes") }
      for side in [session.alice, session.bob] {
        let checker = checkers["\(index) \(side.name)"]!
        received += checker.verifiedLines
        if let problem = checker.problem { failures.append("session \(index) \(side.name): \(problem)") }
        let hs = side.text(side.handshakeError)
        if side.handshakeStatus != 0 || side.openStatus != 0 || side.sealStatus != 0
          || !side.openError.isEmpty || !side.sealError.isEmpty
          // Authenticated peer, verification code (and, with identities, the peer's key).
          || hs.split(separator: "\n").count != (index % 2 == 0 ? 2 : 3)
        {
          failures.append(
            "session \(index) \(side.name): statuses \(side.handshakeStatus.map(String.init) ?? "-")/"
              + "\(side.openStatus.map(String.init) ?? "-")/\(side.sealStatus.map(String.init) ?? "-"): "
              + hs + side.text(side.openError) + side.text(side.sealError))
        }
        for (pid, tool) in side.tools {
          let rss = highWater[pid] ?? 0
          rssByTool.append(rss)
          largest[tool] = max(largest[tool] ?? 0, rss)
        }
        unlink(side.sessionPath)
      }
    }
    let total = sessions * messages * 2
    print(
      String(
        format: "load: %d sessions x %d messages each way: %d of %d messages received in order in %.1f s"
          + " (%.0f messages/s); %d failures", sessions, messages, received, total, seconds,
        Double(received) / seconds, failures.count))
    print(
      String(
        format: "load: %d tool processes; sum of their peak RSS (VmHWM) %.1f MiB;"
          + " the largest sum of the RSS of the tools alive at one time %.1f MiB; the machine's available"
          + " memory fell by at most %.1f MiB (all sampled every 100 ms; RSS counts shared pages in every"
          + " process)", rssByTool.count, Double(rssByTool.reduce(0, +)) / 1024, Double(peakLiveKiB) / 1024,
        Double(availableBefore - lowestAvailable) / 1024))
    print(
      "load: peak RSS per tool: "
        + largest.sorted(by: { $0.key < $1.key }).map { "\($0.key) \($0.value) KiB" }.joined(separator: ", "))
    for failure in failures.prefix(20) { XCTFail(failure) }
    XCTAssertEqual(received, total)
    XCTAssertEqual(rssByTool.count, sessions * 6)
  }

  /// MemAvailable from /proc/meminfo, KiB.
  static func memAvailableKiB() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
      let line = text.split(separator: "\n").first(where: { $0.hasPrefix("MemAvailable:") })
    else { return 0 }
    return Int(line.split(separator: " ")[1]) ?? 0
  }

  /// Resident memory of a live process and its peak since it exec'd (VmRSS, VmHWM in
  /// /proc/PID/status), KiB; zeros if it is gone.
  static func memoryKiB(_ pid: pid_t) -> (resident: Int, peak: Int) {
    let fd = open("/proc/\(pid)/status", O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return (0, 0) }
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: 4096)
    let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
    guard count > 0 else { return (0, 0) }
    let text = String(decoding: buffer[0..<count], as: UTF8.self)
    func field(_ name: String) -> Int {
      guard let range = text.range(of: "\n" + name + ":") else { return 0 }
      let rest = text[range.upperBound...].drop(while: { $0 == " " || $0 == "\t" })
      return Int(rest.prefix(while: { $0.isNumber })) ?? 0
    }
    return (field("VmRSS"), field("VmHWM"))
  }
}

/// The messages one side of a load session sends: `count` lines
/// `s<session> <sender> <index> <filler>\n`, 30 to 90 bytes, made in chunks of about 64 KiB.
final class LineSource {
  let session: Int
  let sender: String
  let count: Int
  private var next = 0
  /// How many lines the last chunk held.
  private(set) var lastChunkLines = 0
  private static let filler = Array(String(repeating: "the quick brown fox jumps over the lazy dog ", count: 2).utf8)

  init(session: Int, sender: String, count: Int) {
    self.session = session
    self.sender = sender
    self.count = count
  }

  func nextChunk() -> [UInt8]? {
    guard next < count else { return nil }
    var chunk: [UInt8] = []
    chunk.reserveCapacity(1 << 16 + 128)
    let prefix = Array("s\(session) \(sender) ".utf8)
    let first = next
    defer { lastChunkLines = next - first }
    while next < count && chunk.count < 1 << 16 {
      chunk += prefix
      chunk += Array(String(next).utf8)
      chunk.append(UInt8(ascii: " "))
      chunk += LineSource.filler[0..<(next * 7 % 61)]
      chunk.append(UInt8(ascii: "\n"))
      next += 1
    }
    return chunk
  }
}

/// Compares a stream with what a `LineSource` makes, as it arrives.
final class ExpectedLines {
  private let source: LineSource
  private var expected: [UInt8] = []
  private var offset = 0
  private var expectedLines = 0
  /// Lines verified so far (counted a chunk of about 64 KiB at a time).
  private(set) var verifiedLines = 0
  private(set) var problem: String?

  init(_ source: LineSource) { self.source = source }

  func receive(_ chunk: ArraySlice<UInt8>) {
    guard problem == nil else { return }
    var rest = chunk
    while !rest.isEmpty {
      if offset == expected.count {
        guard let more = source.nextChunk() else {
          problem = "\(rest.count) bytes more than the \(source.count) messages sent"
          return
        }
        expected = more
        expectedLines = source.lastChunkLines
        offset = 0
      }
      let count = min(rest.count, expected.count - offset)
      let same = rest.withUnsafeBytes { got in
        expected.withUnsafeBytes { memcmp(got.baseAddress!, $0.baseAddress! + offset, count) == 0 }
      }
      guard same else {
        problem =
          "a message from number \(verifiedLines) to \(verifiedLines + expectedLines) differs: lost, reordered or altered"
        return
      }
      offset += count
      if offset == expected.count { verifiedLines += expectedLines }
      rest = rest.dropFirst(count)
    }
  }

  func end() {
    guard problem == nil else { return }
    if offset != expected.count || source.nextChunk() != nil {
      problem = "the output ended after \(verifiedLines) of \(source.count) messages"
    }
  }
}
