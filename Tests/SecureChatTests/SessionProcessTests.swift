import Foundation
import SecureChatCrypto
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// Live sessions with the real binaries: two `sh -c` pipelines, each in effect
///
///     sc-handshake … && { sc-open -s S >OUT & sc-seal -s S <MSGS; wait; }
///
/// (see `script(_:then:)` for the exact text, which keeps the peer on descriptor 3), wired to each other with pipes, through 127.0.0.1 TCP with socat, or through an in-process
/// relay (`StreamRelay`, in SessionRelay.swift) that parses the handshake messages (type, u16 length, body) and
/// the frames (68 + L bytes, L at offset 12; docs/FORMATS.md §2) of each direction and damages,
/// drops, duplicates, swaps or cuts one of them.
///
/// Every child is started as the leader of its own process group, so tearDown can kill it and
/// everything it started (sc-open, sc-seal, socat's shell) by that group id, even when a test
/// fails half-way; every wait has a deadline.
final class SessionProcessTests: XCTestCase {
  // MARK: - Fixture

  private var directory = ""
  /// Process-group leaders started by this test (pid == pgid).
  private var groups: [pid_t] = []
  /// Those already reaped.
  private var reaped: Set<pid_t> = []
  /// Descriptors this process holds (pipe ends), closed in tearDown.
  private var descriptors: Set<Int32> = []

  override func setUpWithError() throws {
    try super.setUpWithError()
    // The relay writes to pipes whose reader may be gone: EPIPE, not death.
    signal(SIGPIPE, SIG_IGN)
    for tool in ToolRunner.toolNames { _ = try ToolRunner.path(of: tool) }
    let base = NSTemporaryDirectory().hasSuffix("/") ? NSTemporaryDirectory() : NSTemporaryDirectory() + "/"
    var template = Array((base + "sc-session-XXXXXX").utf8CString)
    guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
      throw ToolRunnerError(description: "mkdtemp failed")
    }
    directory = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    for key in ["k.key", "other.key"] {
      let result = try ToolRunner.run("sc-keygen", ["-o", path(key)])
      guard result.status == 0 else { throw ToolRunnerError(description: "sc-keygen failed: \(result.stderr)") }
    }
  }

  override func tearDownWithError() throws {
    for group in groups {
      kill(-group, SIGKILL)  // the whole group: the shell and the tools it started
    }
    for group in groups where !reaped.contains(group) {
      var status: Int32 = 0
      while waitpid(group, &status, 0) < 0 && errno == EINTR {}
    }
    groups = []
    reaped = []
    for fd in descriptors { close(fd) }
    descriptors = []
    if !directory.isEmpty { try? FileManager.default.removeItem(atPath: directory) }
    directory = ""
    try super.tearDownWithError()
  }

  private func path(_ name: String) -> String { directory + "/" + name }

  /// One case of a test that tries several (XCTContext is not in swift-corelibs-xctest): the
  /// files of the previous case are removed first, the message files kept.
  private func activity(_ name: String, _ body: () throws -> Void) throws {
    for file in try FileManager.default.contentsOfDirectory(atPath: directory)
    where (file.hasPrefix("alice.") || file.hasPrefix("bob.") || file == "shells.err") && !file.hasSuffix(".msgs") {
      try FileManager.default.removeItem(atPath: path(file))
    }
    currentCase = name + ": "
    defer { currentCase = "" }
    try body()
  }

  /// The case being run, for failure messages.
  private var currentCase = ""

  private func read(_ file: String) -> Data? { FileManager.default.contents(atPath: file) }

  private func text(_ file: String) -> String { read(file).map { String(decoding: $0, as: UTF8.self) } ?? "" }

  private func exists(_ file: String) -> Bool { FileManager.default.fileExists(atPath: file) }

  /// `count` lines of different lengths (so that frames of several sizes go by), tagged with
  /// the sender so that a reflected or crossed stream could not pass for the right one.
  private func writeMessages(_ name: String, count: Int, sender: String) throws -> (path: String, lines: [String]) {
    let lines = (0..<count).map { index in
      "\(sender) \(index) " + String(repeating: "abcdefghij", count: index % 7)
        + String(repeating: ".", count: index % 11)
        + "\n"
    }
    let file = path(name)
    try Data(lines.joined().utf8).write(to: URL(fileURLWithPath: file))
    return (file, lines)
  }

  // MARK: - Processes

  private func makePipe() throws -> (read: Int32, write: Int32) {
    var fds: [Int32] = [-1, -1]
    guard pipe(&fds) == 0 else { throw ToolRunnerError(description: "pipe: \(String(cString: strerror(errno)))") }
    // Close-on-exec, so that no child holds an end it was not given (an EOF would never come).
    for fd in fds {
      _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
      descriptors.insert(fd)
    }
    return (fds[0], fds[1])
  }

  private func closeDescriptor(_ fd: Int32) {
    if descriptors.remove(fd) != nil { close(fd) }
  }

  /// Starts `argv` (looked up in PATH) as the leader of a new process group, with the given
  /// descriptors as standard input and output (/dev/null if nil) and standard error appended to
  /// `stderr`. SIGPIPE is reset to its default action.
  @discardableResult
  private func spawn(_ argv: [String], stdin: Int32? = nil, stdout: Int32? = nil, stderr: String) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    if let stdin {
      posix_spawn_file_actions_adddup2(&actions, stdin, 0)
    } else {
      posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    }
    if let stdout {
      posix_spawn_file_actions_adddup2(&actions, stdout, 1)
    } else {
      posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    }
    posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_APPEND, 0o600)

    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    posix_spawnattr_setpgroup(&attributes, 0)
    ToolRunner.restoreSignals(&attributes, alsoFlags: POSIX_SPAWN_SETPGROUP)

    let arguments: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
    defer { for pointer in arguments { free(pointer) } }
    var pid: pid_t = 0
    let status = posix_spawnp(&pid, argv[0], &actions, &attributes, arguments, environ)
    guard status == 0 else {
      throw ToolRunnerError(description: "cannot run \(argv[0]): \(String(cString: strerror(status)))")
    }
    groups.append(pid)
    return pid
  }

  /// Waits at most `timeout` seconds for `pids`; returns their statuses (128 + N if killed by
  /// signal N). Fails the test (tearDown kills the rest) if they do not all finish in time.
  @discardableResult
  private func waitForExit(_ pids: [pid_t], timeout: TimeInterval, _ what: String) -> [pid_t: Int32] {
    var statuses: [pid_t: Int32] = [:]
    let deadline = Date().addingTimeInterval(timeout)
    while true {
      for pid in pids where statuses[pid] == nil {
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid {
          reaped.insert(pid)
          let signalNumber = status & 0x7f
          statuses[pid] = signalNumber == 0 ? (status >> 8) & 0xff : 128 + signalNumber
        }
      }
      if statuses.count == pids.count { return statuses }
      if Date() > deadline {
        XCTFail("\(what) did not finish within \(Int(timeout)) s")
        for pid in pids where statuses[pid] == nil { kill(-pid, SIGKILL) }
        return statuses
      }
      usleep(5000)
    }
  }

  // MARK: - The two sides

  /// One side of a session: alice is always the initiator, bob the responder. Its files are
  /// `<name>.session`, `<name>.out`, `<name>.hs.err`, `<name>.hs.rc`, … in the test directory.
  private struct Side {
    let name: String
    let role: String
    let key: String
    let directory: String

    func file(_ suffix: String) -> String { directory + "/" + name + "." + suffix }
    var session: String { file("session") }
    var output: String { file("out") }
  }

  private func alice(key: String = "k.key") -> Side {
    Side(name: "alice", role: "initiator", key: path(key), directory: directory)
  }

  private func bob(key: String = "k.key") -> Side {
    Side(name: "bob", role: "responder", key: path(key), directory: directory)
  }

  /// What a side's pipeline does once sc-handshake has succeeded.
  private enum AfterHandshake {
    /// Nothing: the pipeline is sc-handshake alone.
    case nothing
    /// `sc-open -s S <peer >OUT & sc-seal -s S <MESSAGES >peer`.
    case chat(messages: String)
    /// `cat <peer >REST`: what sc-handshake left on its input.
    case capture
    /// With delivery receipts (PROTOCOL.md §6.5): `sc-open -s S --receipts-to /dev/fd/4 --delivered
    /// DELIVERED <peer >OUT 4<>SHOWN & sc-seal -s S --receipts-from SHOWN <INPUT >peer`, SHOWN a fifo. The
    /// input is MESSAGES, then held open until OUT has `expecting` lines (the peer's messages, all
    /// shown and so all acknowledged) or sc-open has ended, and 0.3 s more for the last numbers.
    case receiptChat(messages: String, expecting: Int)
  }

  /// The `sh -c` script of one side. Exit statuses go to `<name>.hs.rc`, `.open.rc`, `.seal.rc`.
  private func script(_ side: Side, then after: AfterHandshake, timeout: Int = 10) throws -> String {
    let q = ToolRunner.shellQuoted
    let handshake = [
      try ToolRunner.path(of: "sc-handshake"), "--" + side.role, "-k", side.key, "-n", side.name, "-o", side.session,
      "--timeout", String(timeout),
    ].map(q).joined(separator: " ")
    // A non-interactive shell gives an asynchronous command (`cmd &`) /dev/null as its standard
    // input (POSIX, "Asynchronous Lists"), and does so before the command's own redirections, so
    // `sc-open … &` would read /dev/null and `sc-open <&0 &` too: keep the peer on descriptor 3.
    var lines = [
      "exec 3<&0",
      "\(handshake) 2>\(q(side.file("hs.err"))) 3<&-",
      "rc=$?; echo $rc >\(q(side.file("hs.rc")))",
      "[ $rc -eq 0 ] || exit $rc",
      // Its mode before the session tools use it up (they remove it once both have claimed it).
      "stat -c %a \(q(side.session)) >\(q(side.file("mode")))",
    ]
    switch after {
    case .nothing:
      break
    case .capture:
      lines.append("cat <&3 >\(q(side.file("rest"))) 3<&-")
    case .receiptChat(let messages, let expecting):
      let shown = q(side.file("shown"))
      let opened = q(side.file("open.rc"))
      // sc-open writes to the fifo on a descriptor the shell opened (4<>: without waiting for
      // the reader); only sc-open keeps it, so sc-seal sees the end of the numbers when it ends.
      lines += [
        "mkfifo -m 600 \(shown) || exit 9",
        ": >\(q(side.output))",
        "exec 4<>\(shown)",
        "{ \(q(try ToolRunner.path(of: "sc-open"))) -s \(q(side.session)) --receipts-to /dev/fd/4"
          + " --delivered \(q(side.file("delivered"))) <&3 >\(q(side.output)) 2>\(q(side.file("open.err"))) 3<&-;"
          + " echo $? >\(opened); } &",
        "opener=$!",
        "exec 4<&-",
        "{ cat \(q(messages)); while [ ! -e \(opened) ] && [ \"$(wc -l <\(q(side.output)))\" -lt \(expecting) ];"
          + " do sleep 0.02; done; sleep 0.3; } 3<&- |"
          + " \(q(try ToolRunner.path(of: "sc-seal"))) -s \(q(side.session)) --receipts-from \(shown)"
          + " 2>\(q(side.file("seal.err"))) 3<&-",
        "echo $? >\(q(side.file("seal.rc")))",
        "wait $opener",
      ]
    case .chat(let messages):
      lines += [
        "\(q(try ToolRunner.path(of: "sc-open"))) -s \(q(side.session)) <&3 >\(q(side.output))"
          + " 2>\(q(side.file("open.err"))) 3<&- &",
        "opener=$!",
        "\(q(try ToolRunner.path(of: "sc-seal"))) -s \(q(side.session)) <\(q(messages))"
          + " 2>\(q(side.file("seal.err"))) 3<&-",
        "echo $? >\(q(side.file("seal.rc")))",
        "wait $opener",
        "echo $? >\(q(side.file("open.rc")))",
      ]
    }
    return lines.joined(separator: "\n") + "\n"
  }

  /// The status a side's shell recorded in `<name>.<step>.rc`, or nil if that step never ran.
  private func status(_ side: Side, _ step: String) -> Int32? {
    Int32(text(side.file(step + ".rc")).trimmingCharacters(in: .whitespacesAndNewlines))
  }

  /// Runs alice and bob connected by two pipes, directly or through a relay with the given
  /// editors (one per direction; nil passes bytes unchanged). Returns when both shells are done.
  private func runPair(
    alice: Side, _ aliceAfter: AfterHandshake, bob: Side, _ bobAfter: AfterHandshake,
    toBob: RelayEditor? = nil, toAlice: RelayEditor? = nil, timeout: TimeInterval = 20
  ) throws {
    let aliceScript = try script(alice, then: aliceAfter)
    let bobScript = try script(bob, then: bobAfter)
    let errors = path("shells.err")
    let pids: [pid_t]
    if toBob == nil && toAlice == nil {
      let aliceToBob = try makePipe()
      let bobToAlice = try makePipe()
      pids = [
        try spawn(["/bin/sh", "-c", aliceScript], stdin: bobToAlice.read, stdout: aliceToBob.write, stderr: errors),
        try spawn(["/bin/sh", "-c", bobScript], stdin: aliceToBob.read, stdout: bobToAlice.write, stderr: errors),
      ]
      for fd in [aliceToBob.read, aliceToBob.write, bobToAlice.read, bobToAlice.write] { closeDescriptor(fd) }
    } else {
      let aliceIn = try makePipe()
      let aliceOut = try makePipe()
      let bobIn = try makePipe()
      let bobOut = try makePipe()
      pids = [
        try spawn(["/bin/sh", "-c", aliceScript], stdin: aliceIn.read, stdout: aliceOut.write, stderr: errors),
        try spawn(["/bin/sh", "-c", bobScript], stdin: bobIn.read, stdout: bobOut.write, stderr: errors),
      ]
      for fd in [aliceIn.read, aliceOut.write, bobIn.read, bobOut.write] { closeDescriptor(fd) }
      let relay = StreamRelay(directions: [
        RelayDirection(source: aliceOut.read, sink: bobIn.write, editor: toBob ?? StreamEditor()),
        RelayDirection(source: bobOut.read, sink: aliceIn.write, editor: toAlice ?? StreamEditor()),
      ])
      let finished = relay.run(until: Date().addingTimeInterval(timeout))
      // The relay has closed its four descriptors.
      for fd in [aliceOut.read, bobIn.write, bobOut.read, aliceIn.write] { descriptors.remove(fd) }
      if !finished { XCTFail("the relay did not see both streams end within \(Int(timeout)) s") }
    }
    waitForExit(pids, timeout: timeout, "the two sides")
    XCTAssertEqual(text(errors), "", "the shells themselves complained")
  }

  // MARK: - Checks

  /// A side whose handshake succeeded: the messages on stderr, and a private session file.
  private func assertAuthenticated(_ side: Side, peer: String, file: StaticString = #filePath, line: UInt = #line)
    -> String?
  {
    XCTAssertEqual(
      status(side, "hs"), 0, "\(currentCase)\(side.name): sc-handshake: \(text(side.file("hs.err")))", file: file,
      line: line)
    let stderr = text(side.file("hs.err"))
    XCTAssertTrue(
      stderr.contains("sc-handshake: authenticated peer '\(peer)'\n"), "\(currentCase)\(side.name): \(stderr)",
      file: file, line: line)
    XCTAssertEqual(
      text(side.file("mode")), "600\n", "\(currentCase)\(side.name): no session file, or not mode 600", file: file,
      line: line)
    guard
      let range = stderr.range(
        of: #"sc-handshake: verification code \d{3} \d{3} \d{3} \d{3}\n"#, options: .regularExpression)
    else {
      XCTFail("\(currentCase)\(side.name): no verification code in \(stderr)", file: file, line: line)
      return nil
    }
    return String(stderr[range])
  }

  /// A side whose sc-open exited 1 after writing exactly `lines` (the messages before the damage).
  private func assertOpenFailed(
    _ side: Side, afterWriting lines: ArraySlice<String>, saying words: String? = nil,
    file: StaticString = #filePath, line: UInt = #line
  ) {
    let stderr = text(side.file("open.err"))
    XCTAssertEqual(status(side, "open"), 1, "\(currentCase)\(side.name): sc-open: \(stderr)", file: file, line: line)
    XCTAssertTrue(stderr.hasPrefix("sc-open: error: "), "\(currentCase)\(side.name): \(stderr)", file: file, line: line)
    if let words {
      XCTAssertTrue(stderr.contains(words), "\(currentCase)\(side.name): \(stderr)", file: file, line: line)
    }
    let output = text(side.output)
    XCTAssertTrue(
      output == lines.joined(),
      "\(currentCase)\(side.name) wrote \(output.split(separator: "\n").count) lines, not the \(lines.count) before the damage",
      file: file, line: line)
  }

  /// A side whose sc-open received all of `lines` and exited 0.
  private func assertOpenSucceeded(
    _ side: Side, received lines: [String], file: StaticString = #filePath, line: UInt = #line
  ) {
    XCTAssertEqual(
      status(side, "open"), 0, "\(currentCase)\(side.name): sc-open: \(text(side.file("open.err")))", file: file,
      line: line)
    XCTAssertEqual(
      status(side, "seal"), 0, "\(currentCase)\(side.name): sc-seal: \(text(side.file("seal.err")))", file: file,
      line: line)
    let output = read(side.output) ?? Data()
    XCTAssertTrue(
      output == Data(lines.joined().utf8),
      "\(currentCase)\(side.name) received \(output.count) bytes, expected \(lines.joined().utf8.count)", file: file,
      line: line)
  }

  // MARK: - 1. Pipes

  /// 10,000 messages each way at the same time through two plain pipes. sc-seal starts the moment
  /// sc-handshake exits, so the first frames follow the last handshake message immediately (and
  /// may share a read with it).
  func testPipePairCarriesTenThousandMessagesEachWay() throws {
    let (aliceMessages, aliceLines) = try writeMessages("alice.msgs", count: 10_000, sender: "alice")
    let (bobMessages, bobLines) = try writeMessages("bob.msgs", count: 10_000, sender: "bob")
    let alice = alice()
    let bob = bob()
    try runPair(alice: alice, .chat(messages: aliceMessages), bob: bob, .chat(messages: bobMessages), timeout: 60)
    let aliceCode = assertAuthenticated(alice, peer: "bob")
    let bobCode = assertAuthenticated(bob, peer: "alice")
    XCTAssertNotNil(aliceCode)
    XCTAssertEqual(aliceCode, bobCode, "both sides show the same verification code")
    assertOpenSucceeded(alice, received: bobLines)
    assertOpenSucceeded(bob, received: aliceLines)
    // Each side's sc-seal -s and sc-open -s claimed their direction of its session file, and the
    // second of them removed it (PROTOCOL.md §5).
    XCTAssertFalse(exists(alice.session), "alice's session file is left")
    XCTAssertFalse(exists(bob.session), "bob's session file is left")
  }

  // MARK: - 2. TCP with socat

  /// Whether something listens on 127.0.0.1:`port` (from /proc/net/tcp, so that the check does
  /// not use up the listener's one connection).
  private func isListening(port: UInt16) -> Bool {
    let table = (try? String(contentsOfFile: "/proc/net/tcp", encoding: .utf8)) ?? ""
    let local = "0100007F:" + String(format: "%04X", port)
    return table.split(separator: "\n").contains { row in
      let fields = row.split(separator: " ")
      return fields.count > 3 && fields[1] == local && fields[3] == "0A"
    }
  }

  func testTCPWithSocatCarriesTenThousandMessagesEachWay() throws {
    guard
      let socat = ["/usr/bin/socat", "/bin/socat"].first(where: { FileManager.default.isExecutableFile(atPath: $0) })
    else { throw XCTSkip("socat is not installed") }
    let (aliceMessages, aliceLines) = try writeMessages("alice.msgs", count: 10_000, sender: "alice")
    let (bobMessages, bobLines) = try writeMessages("bob.msgs", count: 10_000, sender: "bob")
    let alice = alice()
    let bob = bob()
    for side in [(alice, aliceMessages), (bob, bobMessages)] {
      try Data(try script(side.0, then: .chat(messages: side.1)).utf8).write(
        to: URL(fileURLWithPath: side.0.file("sh")))
    }
    // socat address syntax gives meaning to : , ! and quotes; the paths here have none of them.
    XCTAssertNil(directory.rangeOfCharacter(from: CharacterSet(charactersIn: ":,!'\"\\()[]{} ")), directory)

    // The responder listens; a port taken between freePort() and socat's bind is retried.
    var port: UInt16 = 0
    var listening = false
    for _ in 0..<5 where !listening {
      port = try ToolRunner.freeLoopbackPort()
      let responder = try spawn(
        [socat, "-t", "5", "TCP-LISTEN:\(port),bind=127.0.0.1,reuseaddr", "SYSTEM:/bin/sh " + bob.file("sh")],
        stderr: path("socat-responder.err"))
      let deadline = Date().addingTimeInterval(5)
      while Date() < deadline {
        if isListening(port: port) {
          listening = true
          break
        }
        var status: Int32 = 0
        if waitpid(responder, &status, WNOHANG) == responder {
          reaped.insert(responder)
          break
        }
        usleep(10_000)
      }
    }
    guard listening else {
      XCTFail("socat could not listen on 127.0.0.1: \(text(path("socat-responder.err")))")
      return
    }
    try spawn(
      [socat, "-t", "5", "TCP:127.0.0.1:\(port),retry=20,interval=0.1", "SYSTEM:/bin/sh " + alice.file("sh")],
      stderr: path("socat-initiator.err"))
    waitForExit(groups.filter { !reaped.contains($0) }, timeout: 60, "the two socat processes")
    XCTAssertEqual(text(path("socat-initiator.err")), "")
    // The shells run under socat, which may return before they have recorded the last status.
    let deadline = Date().addingTimeInterval(5)
    while Date() < deadline && [alice, bob].contains(where: { status($0, "open") == nil }) { usleep(10_000) }

    let aliceCode = assertAuthenticated(alice, peer: "bob")
    let bobCode = assertAuthenticated(bob, peer: "alice")
    XCTAssertNotNil(aliceCode)
    XCTAssertEqual(aliceCode, bobCode)
    assertOpenSucceeded(alice, received: bobLines)
    assertOpenSucceeded(bob, received: aliceLines)
  }

  // MARK: - 3. Wrong key

  func testWrongKeyFailsBothSidesAndWritesNoSession() throws {
    let (aliceMessages, _) = try writeMessages("alice.msgs", count: 5, sender: "alice")
    let (bobMessages, _) = try writeMessages("bob.msgs", count: 5, sender: "bob")
    let alice = alice()
    let bob = bob(key: "other.key")
    try runPair(alice: alice, .chat(messages: aliceMessages), bob: bob, .chat(messages: bobMessages))
    for side in [alice, bob] {
      let stderr = text(side.file("hs.err"))
      XCTAssertEqual(status(side, "hs"), 1, "\(side.name): \(stderr)")
      // bob finds alice's response wrong; alice then gets bob's abort (PROTOCOL.md §3.6).
      XCTAssertTrue(
        stderr.contains(side.name == "alice" ? "error: rejected by the peer" : "error: authentication failed"),
        "\(side.name): \(stderr)")
      XCTAssertFalse(stderr.contains("authenticated peer"), "\(side.name): \(stderr)")
      XCTAssertFalse(exists(side.session), "\(side.name) wrote a session file")
      XCTAssertFalse(exists(side.output), "\(side.name) ran sc-open")
    }
  }

  // MARK: - 4. Tampering with the handshake

  /// One bit flipped in I1, R1, I2 or R2 (at the offsets below, counted from the start of the
  /// message: 3 header bytes, then the body). Hellos: version 0, ephemeral key 1…32, challenge
  /// 33…64. Auth messages: the encrypted name frame, then the 32-byte response at the end.
  func testFlippedHandshakeByteFailsBothSides() throws {
    let (aliceMessages, _) = try writeMessages("alice.msgs", count: 5, sender: "alice")
    let (bobMessages, _) = try writeMessages("bob.msgs", count: 5, sender: "bob")
    // (direction, message index in that direction, offset)
    let cases: [(toBob: Bool, message: Int, offset: Int, label: String)] = [
      (true, 0, 3 + 1, "I1 ephemeral key"), (true, 0, 3 + 40, "I1 challenge"),
      (false, 0, 3 + 5, "R1 ephemeral key"), (false, 0, 3 + 64, "R1 challenge"),
      (true, 1, 3 + 40, "I2 name frame"), (true, 1, -1, "I2 response"),
      (false, 1, 3 + 40, "R2 name frame"), (false, 1, -1, "R2 response"),
    ]
    for flip in cases {
      try activity(flip.label) {
        let editor = StreamEditor()
        editor.handshakeFlip = (flip.message, flip.offset)
        let alice = alice()
        let bob = bob()
        try runPair(
          alice: alice, .chat(messages: aliceMessages), bob: bob, .chat(messages: bobMessages),
          toBob: flip.toBob ? editor : nil, toAlice: flip.toBob ? nil : editor)
        XCTAssertEqual(editor.flipsDone, 1, "\(flip.label): the relay did not see the message")

        // The initiator fails in every case; it never sends a frame.
        let aliceErr = text(alice.file("hs.err"))
        XCTAssertEqual(status(alice, "hs"), 1, "\(flip.label): alice: \(aliceErr)")
        // Its own check failed, or bob's did and bob sent the abort.
        XCTAssertTrue(
          aliceErr.contains("error: authentication failed") || aliceErr.contains("error: rejected by the peer"),
          "\(flip.label): alice: \(aliceErr)")
        XCTAssertFalse(exists(alice.session), "\(flip.label): alice wrote a session")
        XCTAssertFalse(exists(alice.output), "\(flip.label): alice ran sc-open")

        let bobErr = text(bob.file("hs.err"))
        if flip.message == 1 && !flip.toBob {
          // A flip in R2, the last message: bob (the responder) has verified I2, sent R2 and is
          // done, so his sc-handshake succeeds and his sc-open starts. Alice rejects R2 and never
          // sends a frame (only her abort message, then her shell exits and closes the pipe):
          // bob's sc-open must exit 1 without releasing anything, because the final frame never
          // comes. That is why the final frame is authenticated and required.
          XCTAssertEqual(status(bob, "hs"), 0, "\(flip.label): bob: \(bobErr)")
          // He wrote his session file (his sc-open and sc-seal have claimed and removed it since).
          XCTAssertEqual(text(bob.file("mode")), "600\n", "\(flip.label): bob wrote no session")
          assertOpenFailed(bob, afterWriting: [])
        } else {
          // Bob checks I2 against the transcript, which the flip changed (or which is the flip):
          // he fails and sends the abort message, which alice reports as authentication failed.
          XCTAssertEqual(status(bob, "hs"), 1, "\(flip.label): bob: \(bobErr)")
          XCTAssertTrue(bobErr.contains("authentication failed"), "\(flip.label): bob: \(bobErr)")
          XCTAssertFalse(exists(bob.session), "\(flip.label): bob wrote a session")
          XCTAssertFalse(exists(bob.output), "\(flip.label): bob ran sc-open")
        }
      }
    }
  }

  /// The connection cut in the middle of each handshake message (the relay forwards part of
  /// it, then closes that direction). The side that gets the partial message fails with 1
  /// (truncated mid-handshake). The other side then sees its input end: after a message of
  /// the peer (I1 sent, R1 received…) that is a truncation too (1); for a cut in I1, alice
  /// has received nothing at all, which is "the peer closed the connection before the
  /// handshake" (2). For a cut in R2, bob is done and his sc-open exits 1 (no final frame).
  func testHandshakeCutInsideEachMessageFails() throws {
    let (aliceMessages, _) = try writeMessages("alice.msgs", count: 5, sender: "alice")
    let (bobMessages, _) = try writeMessages("bob.msgs", count: 5, sender: "bob")
    let cases: [(toBob: Bool, message: Int, keeping: Int, alice: Int32, bob: Int32, label: String)] = [
      (true, 0, 30, 2, 1, "I1"), (false, 0, 2, 1, 1, "R1 header"), (false, 0, 40, 1, 1, "R1"),
      (true, 1, 100, 1, 1, "I2"), (false, 1, 3, 1, 0, "R2 header only"), (false, 1, 115, 1, 0, "R2"),
    ]
    for cut in cases {
      try activity(cut.label) {
        let editor = StreamEditor()
        editor.handshakeCut = (cut.message, cut.keeping)
        let alice = alice()
        let bob = bob()
        try runPair(
          alice: alice, .chat(messages: aliceMessages), bob: bob, .chat(messages: bobMessages),
          toBob: cut.toBob ? editor : nil, toAlice: cut.toBob ? nil : editor)
        XCTAssertEqual(editor.cutsDone, 1, "\(cut.label): the relay did not see the message")
        for (side, expected) in [(alice, cut.alice), (bob, cut.bob)] {
          let stderr = text(side.file("hs.err"))
          XCTAssertEqual(status(side, "hs"), expected, "\(cut.label): \(side.name): \(stderr)")
          if expected == 0 {
            assertOpenFailed(side, afterWriting: [], saying: "truncated")
          } else {
            XCTAssertTrue(stderr.hasPrefix("sc-handshake: error: "), "\(cut.label): \(side.name): \(stderr)")
            XCTAssertFalse(exists(side.session), "\(cut.label): \(side.name) wrote a session")
            XCTAssertFalse(exists(side.output), "\(cut.label): \(side.name) ran sc-open")
          }
        }
      }
    }
  }

  // MARK: - 5. Tampering with frames

  /// Runs a chat of `count` messages each way with `action` applied to the frames alice sends
  /// to bob; checks that alice received all of bob's messages. Returns alice's lines and bob.
  private func runWithDamagedFrames(_ action: StreamEditor.FrameAction, count: Int = 40) throws -> (
    lines: [String], bob: Side, editor: StreamEditor
  ) {
    let (aliceMessages, aliceLines) = try writeMessages("alice.msgs", count: count, sender: "alice")
    let (bobMessages, bobLines) = try writeMessages("bob.msgs", count: count, sender: "bob")
    let editor = StreamEditor()
    editor.frameAction = action
    let alice = alice()
    let bob = bob()
    try runPair(alice: alice, .chat(messages: aliceMessages), bob: bob, .chat(messages: bobMessages), toBob: editor)
    _ = assertAuthenticated(alice, peer: "bob")
    _ = assertAuthenticated(bob, peer: "alice")
    assertOpenSucceeded(alice, received: bobLines)  // the other direction is untouched
    XCTAssertEqual(status(alice, "seal"), 0)
    return (aliceLines, bob, editor)
  }

  func testFlippedFrameByteStopsBeforeThatFrame() throws {
    // Not fixing the CRC: "corrupted in transit".
    let (lines, bob, editor) = try runWithDamagedFrames(.flip(frame: 12, field: .ciphertext, fixCRC: false))
    XCTAssertEqual(editor.frameEditsDone, 1)
    assertOpenFailed(bob, afterWriting: lines[..<12], saying: "corrupted in transit")
  }

  func testFlippedFrameByteWithFixedCRCFailsAuthentication() throws {
    // An attacker recomputes the CRC; the HMAC catches the change.
    for (field, frame) in [
      (StreamEditor.FrameField.ciphertext, 7), (.sequence, 0), (.iv, 20), (.tag, 39), (.finalFlag, 40),
    ] {
      try activity("\(field)") {
        let (lines, bob, editor) = try runWithDamagedFrames(.flip(frame: frame, field: field, fixCRC: true))
        XCTAssertEqual(editor.frameEditsDone, 1)
        assertOpenFailed(bob, afterWriting: lines[..<frame], saying: "authentication failed")
      }
    }
  }

  func testDroppedFrameFails() throws {
    let (lines, bob, editor) = try runWithDamagedFrames(.drop(frame: 9))
    XCTAssertEqual(editor.frameEditsDone, 1)
    assertOpenFailed(bob, afterWriting: lines[..<9], saying: "out of order")
  }

  func testDroppedFirstFrameFails() throws {
    let (_, bob, editor) = try runWithDamagedFrames(.drop(frame: 0))
    XCTAssertEqual(editor.frameEditsDone, 1)
    assertOpenFailed(bob, afterWriting: [], saying: "out of order")
  }

  func testDuplicatedFrameFails() throws {
    // Frame 9 is accepted once; its replay is refused.
    let (lines, bob, editor) = try runWithDamagedFrames(.duplicate(frame: 9))
    XCTAssertEqual(editor.frameEditsDone, 1)
    assertOpenFailed(bob, afterWriting: lines[..<10], saying: "out of order")
  }

  func testSwappedFramesFail() throws {
    let (lines, bob, editor) = try runWithDamagedFrames(.swapWithNext(frame: 9))
    XCTAssertEqual(editor.frameEditsDone, 1)
    assertOpenFailed(bob, afterWriting: lines[..<9], saying: "out of order")
  }

  func testDroppedFinalFrameFails() throws {
    // The 40 data frames arrive, then the stream ends without the final frame (index 40).
    let (lines, bob, editor) = try runWithDamagedFrames(.drop(frame: 40))
    XCTAssertEqual(editor.frameEditsDone, 1)
    assertOpenFailed(bob, afterWriting: lines[...], saying: "truncated")
  }

  func testStreamCutEarlyFailsAsTruncated() throws {
    let (lines, bob, editor) = try runWithDamagedFrames(.cutBefore(frame: 17))
    XCTAssertEqual(editor.frameEditsDone, 1)
    assertOpenFailed(bob, afterWriting: lines[..<17], saying: "truncated")
  }

  func testStreamCutInsideAFrameFailsAsTruncated() throws {
    let (lines, bob, editor) = try runWithDamagedFrames(.cutInside(frame: 17, keeping: 50))
    XCTAssertEqual(editor.frameEditsDone, 1)
    assertOpenFailed(bob, afterWriting: lines[..<17], saying: "truncated")
  }

  // MARK: - 6. Reflection and frames from another session

  /// Runs a handshake only; returns the two session files.
  private func handshakeOnly(_ prefix: String) throws -> (alice: String, bob: String) {
    let alice = Side(name: prefix + "alice", role: "initiator", key: path("k.key"), directory: directory)
    let bob = Side(name: prefix + "bob", role: "responder", key: path("k.key"), directory: directory)
    // Names must be valid session names; the prefixes keep the files of two runs apart.
    try runPair(alice: alice, .nothing, bob: bob, .nothing)
    _ = assertAuthenticated(alice, peer: bob.name)
    _ = assertAuthenticated(bob, peer: alice.name)
    return (alice.session, bob.session)
  }

  func testReflectedAndCrossSessionFramesAreRejected() throws {
    let first = try handshakeOnly("one-")
    let second = try handshakeOnly("two-")
    let (_, lines) = try writeMessages("alice.msgs", count: 20, sender: "alice")
    let plaintext = Data(lines.joined().utf8)
    let sealed = try ToolRunner.run(
      "sc-seal", ["-s", try ToolRunner.sessionCopy(first.alice)], stdin: .bytes(plaintext), timeout: 20)
    XCTAssertEqual(sealed.status, 0, sealed.stderr)

    // The control: the peer of the session opens them.
    let opened = try ToolRunner.run(
      "sc-open", ["-s", try ToolRunner.sessionCopy(first.bob)], stdin: .bytes(sealed.stdout), timeout: 20)
    XCTAssertEqual(opened.status, 0, opened.stderr)
    XCTAssertEqual(opened.stdout, plaintext)

    // Reflected: alice's own frames back to alice (her send direction, not her receive one).
    let reflected = try ToolRunner.run(
      "sc-open", ["-s", try ToolRunner.sessionCopy(first.alice)], stdin: .bytes(sealed.stdout), timeout: 20)
    XCTAssertEqual(reflected.status, 1, reflected.stderr)
    XCTAssertEqual(reflected.stdout, Data(), "nothing may be released from a reflected frame")
    XCTAssertTrue(reflected.stderr.contains("authentication failed"), reflected.stderr)

    // Bob's frames reflected to bob.
    let bobSealed = try ToolRunner.run(
      "sc-seal", ["-s", try ToolRunner.sessionCopy(first.bob)], stdin: .bytes(plaintext), timeout: 20)
    XCTAssertEqual(bobSealed.status, 0, bobSealed.stderr)
    let bobReflected = try ToolRunner.run(
      "sc-open", ["-s", try ToolRunner.sessionCopy(first.bob)], stdin: .bytes(bobSealed.stdout), timeout: 20)
    XCTAssertEqual(bobReflected.status, 1, bobReflected.stderr)
    XCTAssertEqual(bobReflected.stdout, Data())

    // Another session with the same key and the same roles: fresh ephemeral keys, other keys.
    for session in [second.bob, second.alice] {
      let crossed = try ToolRunner.run(
        "sc-open", ["-s", try ToolRunner.sessionCopy(session)], stdin: .bytes(sealed.stdout), timeout: 20)
      XCTAssertEqual(crossed.status, 1, crossed.stderr)
      XCTAssertEqual(crossed.stdout, Data())
      XCTAssertTrue(crossed.stderr.contains("authentication failed"), crossed.stderr)
    }
  }

  /// The same through the relay: bob's sc-open gets alice's frames 0…4, then bob's own frames
  /// from number 5 on (so the sequence number is the one it expects: only the direction differs)
  /// instead of the rest of alice's: exit 1 after alice's 5 messages.
  func testReflectionInALiveSessionFails() throws {
    let (aliceMessages, aliceLines) = try writeMessages("alice.msgs", count: 20, sender: "alice")
    let (bobMessages, _) = try writeMessages("bob.msgs", count: 20, sender: "bob")
    let alice = alice()
    let bob = bob()
    let toBob = StreamEditor()
    toBob.frameAction = .dropFrom(frame: 5)
    let toAlice = StreamEditor()
    toAlice.mirror = (to: toBob, fromFrame: 5)
    try runPair(
      alice: alice, .chat(messages: aliceMessages), bob: bob, .chat(messages: bobMessages),
      toBob: toBob, toAlice: toAlice)
    _ = assertAuthenticated(alice, peer: "bob")
    _ = assertAuthenticated(bob, peer: "alice")
    XCTAssertGreaterThan(toAlice.mirroredFrames, 0)
    assertOpenFailed(bob, afterWriting: aliceLines[..<5], saying: "authentication failed")
  }

  // MARK: - 7. Timeouts and peers that are not peers

  /// Runs sc-handshake alone with the test as its peer: `input` is written to it (and the pipe
  /// kept open unless `close`), its output goes to a pipe that is drained unless `closeOutput`.
  private func runLoneHandshake(
    role: String, input: [UInt8] = [], closeInput: Bool, closeOutput: Bool = false, timeoutOption: Int
  ) throws -> (status: Int32, stderr: String, seconds: Double, session: String) {
    let session = path(role + ".session")
    let stderr = path(role + ".err")
    try? FileManager.default.removeItem(atPath: session)
    try? FileManager.default.removeItem(atPath: stderr)
    let toTool = try makePipe()
    let fromTool = try makePipe()
    let start = Date()
    let pid = try spawn(
      [
        try ToolRunner.path(of: "sc-handshake"), "--" + role, "-k", path("k.key"), "-n", "lone", "-o", session,
        "--timeout", String(timeoutOption),
      ], stdin: toTool.read, stdout: fromTool.write, stderr: stderr)
    closeDescriptor(toTool.read)
    closeDescriptor(fromTool.write)
    if closeOutput { closeDescriptor(fromTool.read) }
    if !input.isEmpty {
      XCTAssertEqual(input.withUnsafeBytes { write(toTool.write, $0.baseAddress!, $0.count) }, input.count)
    }
    if closeInput { closeDescriptor(toTool.write) }
    // The tool writes at most a hello (68 bytes) and an abort (3): the pipe holds them.
    let status = waitForExit([pid], timeout: Double(timeoutOption) + 10, "sc-handshake")[pid] ?? -1
    let seconds = Date().timeIntervalSince(start)
    closeDescriptor(toTool.write)
    closeDescriptor(fromTool.read)
    return (status, text(stderr), seconds, session)
  }

  func testHandshakeTimesOutWithASilentPeer() throws {
    for role in ["initiator", "responder"] {
      let result = try runLoneHandshake(role: role, closeInput: false, timeoutOption: 1)
      XCTAssertEqual(result.status, 2, "\(role): \(result.stderr)")
      XCTAssertTrue(result.stderr.contains("timed out"), "\(role): \(result.stderr)")
      XCTAssertLessThan(result.seconds, 3, role)
      XCTAssertGreaterThan(result.seconds, 0.9, role)
      XCTAssertFalse(exists(result.session), role)
    }
  }

  func testHandshakeWithAPeerThatClosesImmediately() throws {
    for role in ["initiator", "responder"] {
      // The peer closes its sending side (our input ends at once).
      let result = try runLoneHandshake(role: role, closeInput: true, timeoutOption: 10)
      XCTAssertEqual(result.status, 2, "\(role): \(result.stderr)")
      XCTAssertTrue(result.stderr.contains("closed"), "\(role): \(result.stderr)")
      XCTAssertLessThan(result.seconds, 5, role)
      XCTAssertFalse(exists(result.session), role)
      // The peer closes both sides (the initiator's hello hits a closed pipe: EPIPE, not SIGPIPE).
      let both = try runLoneHandshake(role: role, closeInput: true, closeOutput: true, timeoutOption: 10)
      XCTAssertEqual(both.status, 2, "\(role): \(both.stderr)")
      XCTAssertTrue(both.stderr.hasPrefix("sc-handshake: error: "), "\(role): \(both.stderr)")
      XCTAssertFalse(exists(both.session), role)
    }
  }

  func testHandshakeWithAnHTTPClientIsNotAPeer() throws {
    for role in ["initiator", "responder"] {
      let result = try runLoneHandshake(
        role: role, input: Array("GET / HTTP/1.1\r\n".utf8), closeInput: false, timeoutOption: 10)
      XCTAssertEqual(result.status, 2, "\(role): \(result.stderr)")
      XCTAssertTrue(result.stderr.contains("not speaking the SecureChat handshake"), "\(role): \(result.stderr)")
      XCTAssertFalse(result.stderr.contains("timed out"), "\(role): \(result.stderr)")
      XCTAssertLessThan(result.seconds, 5, role)
      XCTAssertFalse(exists(result.session), role)
    }
  }

  // MARK: - 8. sc-handshake reads nothing past its last message

  func testHandshakeLeavesTheBytesAfterItsLastMessageOnTheStream() throws {
    // The relay sends a trailer in the same write as the last message each side reads (R2 for
    // alice, I2 for bob), then ends the stream; `cat` after sc-handshake must get all of it.
    let trailer = Array((0..<3000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) })
    for aliceCaptures in [true, false] {
      try activity(aliceCaptures ? "after R2" : "after I2") {
        let editor = StreamEditor()
        editor.trailerAfterHandshake = trailer
        let alice = alice()
        let bob = bob()
        try runPair(
          alice: alice, aliceCaptures ? .capture : .nothing, bob: bob, aliceCaptures ? .nothing : .capture,
          toBob: aliceCaptures ? nil : editor, toAlice: aliceCaptures ? editor : nil)
        _ = assertAuthenticated(alice, peer: "bob")
        _ = assertAuthenticated(bob, peer: "alice")
        let capturer = aliceCaptures ? alice : bob
        XCTAssertEqual(read(capturer.file("rest")), Data(trailer), "\(capturer.name): bytes after the handshake")
      }
    }
  }

  func testFramesInTheSameWriteAsR2AreAllOpened() throws {
    // The relay holds back R2 and bob's frames until bob's final frame has gone by, then gives
    // alice all of them in one write: when her sc-handshake reads R2 the frames are already
    // in the pipe behind it. 150 short messages (~14 KB) fit in an empty pipe.
    let (aliceMessages, aliceLines) = try writeMessages("alice.msgs", count: 150, sender: "alice")
    let (bobMessages, bobLines) = try writeMessages("bob.msgs", count: 150, sender: "bob")
    let editor = StreamEditor()
    editor.holdLastMessageUntilFinalFrame = true
    let alice = alice()
    let bob = bob()
    try runPair(
      alice: alice, .chat(messages: aliceMessages), bob: bob, .chat(messages: bobMessages), toAlice: editor)
    XCTAssertEqual(editor.releasedInOneChunk, true)
    XCTAssertGreaterThan(editor.heldBytes, 150 * 84, "R2 and all of bob's frames were held back")
    XCTAssertLessThan(editor.heldBytes, 65536)
    _ = assertAuthenticated(alice, peer: "bob")
    _ = assertAuthenticated(bob, peer: "alice")
    assertOpenSucceeded(alice, received: bobLines)
    assertOpenSucceeded(bob, received: aliceLines)
  }

  // MARK: - 9. Delivery receipts (PROTOCOL.md §6.5)

  /// The numbers a side's --delivered file holds, one per line; nil if a line is not a number.
  private func deliveredNumbers(_ side: Side) -> [Int]? {
    let lines = text(side.file("delivered")).split(separator: "\n", omittingEmptySubsequences: false)
    guard lines.last == "" else { return lines.isEmpty ? [] : nil }
    return lines.dropLast().map { Int($0) }.allSatisfy { $0 != nil } ? lines.dropLast().map { Int($0)! } : nil
  }

  /// Both sides run `sc-open -s --receipts-to SHOWN --delivered D` and `sc-seal -s --receipts-from
  /// SHOWN` (SHOWN: the fifo between their own two tools), 1,000 messages each way: every message
  /// sent gets exactly one receipt, so each side's delivered file is 0 … 999, once each, in order.
  func testReceiptsForEveryMessageBothWays() throws {
    let count = 1000
    let (aliceMessages, aliceLines) = try writeMessages("alice.msgs", count: count, sender: "alice")
    let (bobMessages, bobLines) = try writeMessages("bob.msgs", count: count, sender: "bob")
    let alice = alice()
    let bob = bob()
    try runPair(
      alice: alice, .receiptChat(messages: aliceMessages, expecting: count), bob: bob,
      .receiptChat(messages: bobMessages, expecting: count), timeout: 60)
    _ = assertAuthenticated(alice, peer: "bob")
    _ = assertAuthenticated(bob, peer: "alice")
    assertOpenSucceeded(alice, received: bobLines)
    assertOpenSucceeded(bob, received: aliceLines)
    for side in [alice, bob] {
      XCTAssertEqual(deliveredNumbers(side), Array(0..<count), "\(side.name): delivered")
      XCTAssertEqual(text(side.file("open.err")), "", side.name)
      XCTAssertEqual(text(side.file("seal.err")), "", side.name)
    }
  }

  /// The relay damages the `target`-th receipt frame (0-based, among the receipt frames) that bob
  /// sends to alice: alice's sc-open must fail with status 1, and her delivered file must hold
  /// the numbers of the receipts that arrived intact before the damage (`delivered`, by default
  /// those before the target) and nothing else; alice's direction to bob is intact.
  private func runWithDamagedReceipt(
    _ action: ReceiptFrameEditor.Action, target: Int, delivered: Int? = nil, saying words: String
  ) throws {
    let count = 40
    let (aliceMessages, aliceLines) = try writeMessages("alice.msgs", count: count, sender: "alice")
    let (bobMessages, bobLines) = try writeMessages("bob.msgs", count: count, sender: "bob")
    let editor = ReceiptFrameEditor(action: action, target: target)
    let alice = alice()
    let bob = bob()
    try runPair(
      alice: alice, .receiptChat(messages: aliceMessages, expecting: count), bob: bob,
      .receiptChat(messages: bobMessages, expecting: count), toAlice: editor, timeout: 30)
    _ = assertAuthenticated(alice, peer: "bob")
    _ = assertAuthenticated(bob, peer: "alice")
    XCTAssertEqual(editor.receiptsSeen > target, true, "\(currentCase)the relay saw \(editor.receiptsSeen) receipts")
    XCTAssertEqual(editor.editsDone, 1, currentCase)
    // Alice: status 1, a prefix of bob's messages, and only the receipts before the damaged one.
    let stderr = text(alice.file("open.err"))
    XCTAssertEqual(status(alice, "open"), 1, "\(currentCase)alice: sc-open: \(stderr)")
    XCTAssertTrue(stderr.hasPrefix("sc-open: error: ") && stderr.contains(words), "\(currentCase)alice: \(stderr)")
    XCTAssertEqual(stderr.split(separator: "\n").count, 1, "\(currentCase)alice: one error line: \(stderr)")
    XCTAssertTrue(bobLines.joined().hasPrefix(text(alice.output)), "\(currentCase)alice showed what bob did not send")
    XCTAssertEqual(deliveredNumbers(alice), Array(0..<(delivered ?? target)), "\(currentCase)alice: delivered")
    // Bob got everything, and alice's receipts for all of bob's messages that she showed.
    assertOpenSucceeded(bob, received: aliceLines)
    let aliceShown = text(alice.output).split(separator: "\n").count
    XCTAssertEqual(deliveredNumbers(bob), Array(0..<aliceShown), "\(currentCase)bob: delivered")
  }

  func testDroppedReceiptFailsWithoutAFalseDelivery() throws {
    try runWithDamagedReceipt(.drop, target: 7, saying: "out of order")
  }

  func testDuplicatedReceiptFailsWithoutAFalseDelivery() throws {
    // The first copy is the real receipt for message 7; the second is refused.
    try runWithDamagedReceipt(.duplicate, target: 7, delivered: 8, saying: "out of order")
  }

  func testAlteredReceiptFailsWithoutAFalseDelivery() throws {
    try activity("crc not fixed") {
      try runWithDamagedReceipt(.flip(fixCRC: false), target: 7, saying: "corrupted in transit")
    }
    try activity("crc fixed") {
      try runWithDamagedReceipt(.flip(fixCRC: true), target: 0, saying: "authentication failed")
    }
    try activity("made a message") {
      try runWithDamagedReceipt(.retype, target: 3, saying: "authentication failed")
    }
  }
}

/// Damages one receipt frame (type 0x02, docs/FORMATS.md §2.1) of a direction, counted among the
/// receipt frames only: the frames around it, and their order, are timing-dependent.
final class ReceiptFrameEditor: RelayEditor {
  enum Action {
    case drop, duplicate
    /// Flips a ciphertext bit, recomputing the CRC if asked.
    case flip(fixCRC: Bool)
    /// Turns the receipt into a data frame (type 0x01), CRC recomputed.
    case retype
  }

  let action: Action
  let target: Int
  private(set) var receiptsSeen = 0
  private(set) var editsDone = 0
  private var splitter = SessionUnitSplitter()
  var ended: Bool { false }
  var holding: Bool { false }

  init(action: Action, target: Int) {
    self.action = action
    self.target = target
  }

  func feed(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
    splitter.append(bytes)
    var out: [UInt8] = []
    while let unit = splitter.next() {
      switch unit {
      case .handshake(_, let message): out += message
      case .other(let bytes): out += bytes
      case .frame(_, var frame, _):
        guard frame[1] == 0x02 else {
          out += frame
          continue
        }
        receiptsSeen += 1
        guard receiptsSeen - 1 == target else {
          out += frame
          continue
        }
        editsDone += 1
        switch action {
        case .drop: break
        case .duplicate: out += frame + frame
        case .flip(let fixCRC):
          frame[32 + 3] ^= 0x01  // a ciphertext byte (the header is 32 bytes)
          if fixCRC { SessionUnits.fixCRC(&frame) }
          out += frame
        case .retype:
          frame[1] = 0x01
          SessionUnits.fixCRC(&frame)
          out += frame
        }
      }
    }
    return out
  }

  func finish() -> [UInt8] { splitter.remainder() }
  func takeInjected() -> [UInt8] { [] }
}
