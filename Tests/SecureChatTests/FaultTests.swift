import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// Faults around the tools rather than in the bytes: a peer killed in the middle of the handshake
/// or of the stream, a connection reset, a full disk under the session log, a key that cannot be
/// read or that was replaced by a symbolic link or a fifo, and standard descriptors that are
/// closed or /dev/null. Each must be detected and reported as one error line with the documented
/// status, without a hang and without losing what was already verified and shown.
final class FaultTests: XCTestCase {
  private var directory = ""
  private var mounted: String?

  override func setUpWithError() throws {
    try super.setUpWithError()
    for tool in ToolRunner.toolNames { _ = try ToolRunner.path(of: tool) }
    let base = NSTemporaryDirectory().hasSuffix("/") ? NSTemporaryDirectory() : NSTemporaryDirectory() + "/"
    var template = Array((base + "sc-fault-XXXXXX").utf8CString)
    guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
      throw ToolRunnerError(description: "mkdtemp failed")
    }
    directory = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    let result = try ToolRunner.run("sc-keygen", ["-o", path("k.key")])
    guard result.status == 0 else { throw ToolRunnerError(description: "sc-keygen failed: \(result.stderr)") }
  }

  override func tearDownWithError() throws {
    if let mounted {
      _ = try? ToolRunner.runExecutable("/bin/umount", ["-l", mounted], stdin: .none, timeout: 20)
      self.mounted = nil
    }
    if !directory.isEmpty {
      _ = try? ToolRunner.runExecutable("/bin/chmod", ["-R", "u+rwx", directory], stdin: .none)
      try? FileManager.default.removeItem(atPath: directory)
    }
    try super.tearDownWithError()
  }

  private func path(_ name: String) -> String { directory + "/" + name }

  private func lines(_ count: Int, _ sender: String) -> [String] {
    (0..<count).map { "\(sender) \($0) " + String(repeating: "message text ", count: $0 % 5) + "\n" }
  }

  /// Exactly one error line (the first line), then only hints.
  private func assertOneErrorLine(
    _ stderr: String, _ tool: String, mentions words: [String], file: StaticString = #filePath, line: UInt = #line
  ) {
    XCTAssertNil(HostileRun.checkErrorLines(stderr, tool: tool), file: file, line: line)
    for word in words {
      XCTAssertTrue(stderr.contains(word), "\(tool) should mention \(word): \(stderr)", file: file, line: line)
    }
  }

  /// A completed handshake between alice and bob over a TCP connection; their session files.
  private func handshake(_ prefix: String = "") throws -> (alice: String, bob: String) {
    let (aliceEnd, bobEnd) = try Loopback.tcpPair()
    defer {
      close(aliceEnd)
      close(bobEnd)
    }
    var pids: [pid_t] = []
    for (name, role, end) in [("alice", "initiator", aliceEnd), ("bob", "responder", bobEnd)] {
      let stderr = open(path(prefix + name + ".hs.err"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
      defer { close(stderr) }
      pids.append(
        try spawnTool(
          [
            try ToolRunner.path(of: "sc-handshake"), "--\(role)", "-k", path("k.key"), "-n", name, "-o",
            path(prefix + name + ".session"), "--timeout", "20",
          ], descriptors: [0: end, 1: end, 2: stderr]))
    }
    for pid in pids {
      let status = try waitForExit(pid, timeout: 30)
      XCTAssertEqual(status, 0, (try? String(contentsOfFile: path(prefix + "alice.hs.err"), encoding: .utf8)) ?? "")
    }
    return (path(prefix + "alice.session"), path(prefix + "bob.session"))
  }

  private func waitForExit(_ pid: pid_t, timeout: Double) throws -> Int32 {
    let deadline = StreamRelay.now() + timeout
    while true {
      var status: Int32 = 0
      if waitpid(pid, &status, WNOHANG) == pid {
        let signalNumber = status & 0x7f
        return signalNumber == 0 ? (status >> 8) & 0xff : 128 + signalNumber
      }
      if StreamRelay.now() > deadline {
        kill(pid, SIGKILL)
        waitpid(pid, &status, 0)
        throw ToolRunnerError(description: "process \(pid) did not finish within \(Int(timeout)) s")
      }
      usleep(2000)
    }
  }

  /// Runs `script` with /bin/sh (`$T` is the tool, the arguments follow), for redirections such
  /// as `<&-` that ToolRunner does not make.
  private func shell(_ script: String, _ tool: String, _ arguments: [String], stdin: ToolInput = .none) throws
    -> ToolResult
  {
    try ToolRunner.runExecutable(
      "/bin/sh", ["-c", script, "sh"] + arguments, stdin: stdin,
      environment: ["T": try ToolRunner.path(of: tool)], timeout: 20)
  }

  // MARK: - A peer killed

  /// Runs a session through a relay that holds back what one direction sends from unit `unit`
  /// on; once it holds something, kills the tools of one side; then drops what it held.
  private func killDuringHandshake(killAlice: Bool) throws -> LiveSession {
    let loop = PeerLoop()
    let gate = GateEditor(holdFrom: 1)  // I2: alice has sent it and waits for R2; bob waits for I2
    var done: LiveSession?
    let session = try LiveSession(
      loop: loop, directory: directory, prefix: killAlice ? "ka-" : "kb-", credentials: .preSharedKey(path("k.key")),
      editors: (toBob: gate, toAlice: GateEditor(holdFrom: nil)), output: { _, _ in }, input: { _ in { nil } },
      onDone: { done = $0 })
    let deadline = StreamRelay.now() + 30
    while gate.heldBytes == 0 && StreamRelay.now() < deadline { loop.runOnce(timeout: 5) }
    XCTAssertGreaterThan(gate.heldBytes, 0, "alice never sent I2")
    for pid in (killAlice ? session.alice : session.bob).live { kill(pid, SIGKILL) }
    gate.drop()
    while done == nil && StreamRelay.now() < deadline {
      loop.runOnce(timeout: 5)
      session.enforce(deadline: deadline)
      session.checkDone()
    }
    XCTAssertNotNil(done, "the session did not end")
    return session
  }

  func testPeerKilledDuringTheHandshake() throws {
    for killAlice in [true, false] {
      let session = try killDuringHandshake(killAlice: killAlice)
      let (victim, survivor) = killAlice ? (session.alice, session.bob) : (session.bob, session.alice)
      XCTAssertEqual(victim.handshakeStatus, 128 + SIGKILL)
      // The survivor had received the first message and waited for the second: truncated (1).
      XCTAssertEqual(survivor.handshakeStatus, 1, survivor.text(survivor.handshakeError))
      assertOneErrorLine(survivor.text(survivor.handshakeError), "sc-handshake", mentions: ["truncated"])
      for side in [victim, survivor] {
        XCTAssertFalse(FileManager.default.fileExists(atPath: side.sessionPath), "\(side.name) wrote a session")
        XCTAssertFalse(side.streamed)
      }
    }
  }

  /// Alice and bob, connected directly, each send 20 messages and wait; once each has received
  /// the other's 20, alice's sc-open and sc-seal are killed. Bob's sc-open must end with
  /// truncated (1) after the 20 messages, and his sc-seal, given more to send, with "connection
  /// is closed" (2).
  func testPeerKilledDuringTheStream() throws {
    let loop = PeerLoop()
    let aliceLines = lines(20, "alice")
    let bobLines = lines(20, "bob")
    var outputs: [String: [UInt8]] = ["alice": [], "bob": []]
    var released = false
    var moreChunks = 0
    var done: LiveSession?
    let session = try LiveSession(
      loop: loop, directory: directory, prefix: "ks-", credentials: .preSharedKey(path("k.key")), editors: nil,
      output: { side, chunk in if let chunk { outputs[side.name]! += chunk } },
      input: { side in
        var first: [UInt8]? = Array((side.name == "alice" ? aliceLines : bobLines).joined().utf8)
        var lastMore = 0.0
        return {
          if let bytes = first {
            first = nil
            return bytes
          }
          // Then nothing until released; bob then sends a line every 20 ms, 50 times.
          guard released, side.name == "bob" else { return [] }
          guard moreChunks < 50 else { return nil }
          let now = StreamRelay.now()
          guard now - lastMore > 0.02 else { return [] }
          lastMore = now
          moreChunks += 1
          return Array("bob more \(moreChunks)\n".utf8)
        }
      },
      onDone: { done = $0 })
    let deadline = StreamRelay.now() + 40
    func count(_ name: String) -> Int { outputs[name]!.filter { $0 == UInt8(ascii: "\n") }.count }
    while (count("alice") < 20 || count("bob") < 20) && StreamRelay.now() < deadline { loop.runOnce(timeout: 5) }
    XCTAssertEqual(count("alice"), 20)
    XCTAssertEqual(count("bob"), 20)
    for pid in session.alice.live { kill(pid, SIGKILL) }
    // Bob's sc-open sees the connection close; only then does his sc-seal get more to send.
    while session.bob.openStatus == nil && StreamRelay.now() < deadline { loop.runOnce(timeout: 5) }
    released = true
    while done == nil && StreamRelay.now() < deadline {
      loop.runOnce(timeout: 5)
      session.enforce(deadline: deadline)
      session.checkDone()
    }
    XCTAssertNotNil(done, "the session did not end")
    let bob = session.bob
    XCTAssertEqual(bob.openStatus, 1, bob.text(bob.openError))
    assertOneErrorLine(bob.text(bob.openError), "sc-open", mentions: ["truncated"])
    XCTAssertEqual(outputs["bob"]!, Array(aliceLines.joined().utf8), "every verified message is written")
    XCTAssertEqual(bob.sealStatus, 2, bob.text(bob.sealError))
    assertOneErrorLine(bob.text(bob.sealError), "sc-seal", mentions: ["connection is closed"])
    XCTAssertEqual(session.alice.openStatus, 128 + SIGKILL)
    XCTAssertEqual(session.alice.sealStatus, 128 + SIGKILL)
    for side in [session.alice, bob] { unlink(side.sessionPath) }
  }

  /// A peer whose connection is reset (a crash with unread data, or a forged RST) after it sent
  /// some frames or part of a handshake message: the reset ends the stream like a close, so the
  /// reader reports truncated (1), after writing what it had verified.
  func testConnectionResetEndsTheStreamAsTruncated() throws {
    let sessions = try handshake()
    let sent = lines(5, "alice")
    let sealed = try ToolRunner.run(
      "sc-seal", ["-s", try ToolRunner.sessionCopy(sessions.alice)], stdin: .bytes(Data(sent.joined().utf8)))
    XCTAssertEqual(sealed.status, 0, sealed.stderr)
    let frames = Array(sealed.stdout.dropLast(84))  // without the final frame (68 + 16 bytes)

    let opened = try runOnConnection(
      [try ToolRunner.path(of: "sc-open"), "-s", try ToolRunner.sessionCopy(sessions.bob)], sending: frames)
    XCTAssertEqual(opened.status, 1, opened.stderr)
    assertOneErrorLine(opened.stderr, "sc-open", mentions: ["truncated"])
    XCTAssertEqual(opened.stdout, Data(sent.joined().utf8))

    // Part of an initiator hello, then a reset.
    let responder = try runOnConnection(
      [
        try ToolRunner.path(of: "sc-handshake"), "--responder", "-k", path("k.key"), "-n", "bob", "-o",
        path("reset.session"), "--timeout", "10",
      ], sending: [0x01, 0x00, 0x41, 0x01] + [UInt8](repeating: 7, count: 20))
    XCTAssertEqual(responder.status, 1, responder.stderr)
    assertOneErrorLine(responder.stderr, "sc-handshake", mentions: ["truncated"])
    XCTAssertFalse(FileManager.default.fileExists(atPath: path("reset.session")))
  }

  /// Runs `argv` with standard input and output on a TCP connection; sends `bytes` on the other
  /// end, then resets the connection (SO_LINGER 0, so close sends RST).
  private func runOnConnection(_ argv: [String], sending bytes: [UInt8]) throws -> ToolResult {
    let (toolEnd, testEnd) = try Loopback.tcpPair()
    let outPath = path("conn.out")
    let errPath = path("conn.err")
    let out = open(outPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    let err = open(errPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    let pid = try spawnTool(argv, descriptors: [0: toolEnd, 1: out, 2: err])
    close(toolEnd)
    close(out)
    close(err)
    XCTAssertEqual(bytes.withUnsafeBytes { write(testEnd, $0.baseAddress!, $0.count) }, bytes.count)
    usleep(100_000)
    // Unread data (whatever the tool wrote, the initiator's hello) is not needed for the
    // reset: SO_LINGER with a zero timeout makes close(2) send RST.
    var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
    setsockopt(testEnd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
    close(testEnd)
    let status = try waitForExit(pid, timeout: 20)
    return ToolResult(
      status: status, stdout: FileManager.default.contents(atPath: outPath) ?? Data(),
      stderr: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "")
  }

  // MARK: - A full disk under the log

  /// A 64 KiB tmpfs, or a skip where mounting is not permitted.
  private func smallDisk() throws -> String {
    let mountPoint = path("small")
    try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: false)
    let result = try ToolRunner.runExecutable(
      "/bin/mount", ["-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", mountPoint], stdin: .none, timeout: 20)
    guard result.status == 0 else {
      throw XCTSkip("cannot mount a small tmpfs here (needs root): \(result.stderr)")
    }
    mounted = mountPoint
    return mountPoint
  }

  /// The complete `received` or `sent` entries of a log, in order: their message text, escaped
  /// as the log escapes it (FORMATS.md §9: index, time, kind, session, peer, sequence, text, tag).
  private func loggedMessages(_ logPath: String, kind: String) -> [String] {
    let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
    return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().compactMap { line in
      let fields = line.split(separator: " ", omittingEmptySubsequences: false)
      return fields.count > 7 && fields[2] == kind ? fields[6..<(fields.count - 1)].joined(separator: " ") : nil
    }
  }

  func testDiskFullWhileLogging() throws {
    let small = try smallDisk()
    let sessions = try handshake()
    let sent = lines(3000, "alice")
    let input = Data(sent.joined().utf8)
    let sealed = try ToolRunner.run(
      "sc-seal", ["-s", try ToolRunner.sessionCopy(sessions.alice)], stdin: .bytes(input))
    XCTAssertEqual(sealed.status, 0, sealed.stderr)
    let keygen = try ToolRunner.run(
      "sc-keygen", ["--log", "-o", small + "/chat.seal", "--verify-key", path("chat.verify")])
    XCTAssertEqual(keygen.status, 0, keygen.stderr)

    // sc-open: the log fills up part-way. It stops with one line and status 2; everything it
    // showed is in the log, in order ("nothing is shown that the log does not have"). The
    // stream comes in two parts, so that the first part is logged and shown before the rest
    // fills the disk.
    try sealed.stdout.write(to: URL(fileURLWithPath: path("stream")))
    let opened = try shell(
      #"s=$1; shift; { head -c 8000 "$s"; sleep 0.5; tail -c +8001 "$s"; } | "$T" "$@""#,
      "sc-open",
      [
        path("stream"), "-s", try ToolRunner.sessionCopy(sessions.bob), "--log", small + "/chat.log", "--log-key",
        small + "/chat.seal",
      ])
    XCTAssertEqual(opened.status, 2, opened.stderr)
    assertOneErrorLine(opened.stderr, "sc-open", mentions: ["cannot write the log", "no space left on device"])
    let shown = String(decoding: opened.stdout, as: UTF8.self)
    let shownLines = shown.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map { String($0) + "\n" }
    XCTAssertEqual(shown, shownLines.joined())
    XCTAssertEqual(Array(shownLines), Array(sent.prefix(shownLines.count)), "a prefix of what was sent")
    let logged = loggedMessages(small + "/chat.log", kind: "received")
    XCTAssertGreaterThan(shownLines.count, 0, "the first part was logged and shown")
    XCTAssertLessThan(logged.count, sent.count)
    XCTAssertLessThanOrEqual(shownLines.count, logged.count, "shown \(shownLines.count), logged \(logged.count)")
    for (shownLine, entry) in zip(shownLines, logged) {
      XCTAssertEqual(String(shownLine.dropLast()) + "\\n", entry)
    }

    // sc-seal: stops with one line and status 2; what it sent is a prefix of the messages
    // without a final frame, which the peer reports as truncated.
    for file in try FileManager.default.contentsOfDirectory(atPath: small) { unlink(small + "/" + file) }
    let keygen2 = try ToolRunner.run(
      "sc-keygen", ["--log", "-o", small + "/chat.seal", "--verify-key", path("chat2.verify")])
    XCTAssertEqual(keygen2.status, 0, keygen2.stderr)
    let again = try handshake("2")
    let sealing = try ToolRunner.run(
      "sc-seal",
      ["-s", try ToolRunner.sessionCopy(again.alice), "--log", small + "/chat.log", "--log-key", small + "/chat.seal"],
      stdin: .bytes(input))
    XCTAssertEqual(sealing.status, 2, sealing.stderr)
    assertOneErrorLine(sealing.stderr, "sc-seal", mentions: ["cannot write the log", "no space left on device"])
    let received = try ToolRunner.run(
      "sc-open", ["-s", try ToolRunner.sessionCopy(again.bob)], stdin: .bytes(sealing.stdout))
    XCTAssertEqual(received.status, 1, received.stderr)
    assertOneErrorLine(received.stderr, "sc-open", mentions: ["truncated"])
    XCTAssertTrue(input.starts(with: received.stdout))
  }

  // MARK: - Keys that cannot be read, symbolic links, fifos

  /// Every tool that takes a key, with the key at `key`.
  private func keyUsers(_ key: String) throws -> [(String, [String], ToolInput)] {
    [
      ("sc-seal", ["-k", key], .bytes(Data("x\n".utf8))),
      ("sc-open", ["-k", key], .bytes(Data("x\n".utf8))),
      ("sc-keygen", ["-y", key], .none),
      (
        "sc-handshake",
        ["--initiator", "-k", key, "-n", "alice", "-o", path("unused.session"), "--timeout", "5"], .none
      ),
    ]
  }

  func testUnreadableKeyFile() throws {
    // A directory where the key should be.
    try FileManager.default.createDirectory(atPath: path("dir.key"), withIntermediateDirectories: false)
    for (tool, arguments, stdin) in try keyUsers(path("dir.key")) {
      let result = try ToolRunner.run(tool, arguments, stdin: stdin, timeout: 20)
      XCTAssertEqual(result.status, 2, "\(tool): \(result.stderr)")
      assertOneErrorLine(result.stderr, tool, mentions: ["is a directory"])
    }
    // A key file with mode 000. Root reads it anyway (CAP_DAC_OVERRIDE), so as root the tools
    // run under setpriv without the two capabilities that bypass file permissions.
    let locked = path("locked.key")
    try FileManager.default.copyItem(atPath: path("k.key"), toPath: locked)
    chmod(locked, 0)
    var prefix: [String] = []
    if geteuid() == 0 {
      guard FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else {
        throw XCTSkip("running as root without setpriv: a mode 000 file is readable")
      }
      prefix = ["/usr/bin/setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search", "--"]
    }
    for (tool, arguments, stdin) in try keyUsers(locked) {
      let result = try ToolRunner.runExecutable(
        prefix.first ?? (try ToolRunner.path(of: tool)),
        Array(prefix.dropFirst()) + (prefix.isEmpty ? [] : [try ToolRunner.path(of: tool)]) + arguments, stdin: stdin,
        timeout: 20)
      XCTAssertEqual(result.status, 2, "\(tool): \(result.stderr)")
      assertOneErrorLine(result.stderr, tool, mentions: ["cannot read key file", "permission denied"])
    }
  }

  /// A key file that is a symbolic link is followed, as OpenSSH follows one to an identity file;
  /// the file it points to is what is checked (type and mode).
  func testKeyFileReplacedBySymbolicLink() throws {
    symlink(path("k.key"), path("link.key"))
    let sealed = try ToolRunner.run("sc-seal", ["-k", path("link.key")], stdin: .bytes(Data("through a link\n".utf8)))
    XCTAssertEqual(sealed.status, 0, sealed.stderr)
    let opened = try ToolRunner.run("sc-open", ["-k", path("k.key")], stdin: .bytes(sealed.stdout))
    XCTAssertEqual(opened.status, 0, opened.stderr)
    XCTAssertEqual(opened.stdout, Data("through a link\n".utf8))

    try FileManager.default.copyItem(atPath: path("k.key"), toPath: path("open.key"))
    chmod(path("open.key"), 0o644)
    symlink(path("open.key"), path("link-to-open.key"))
    symlink(path("missing.key"), path("dangling.key"))
    symlink(path("loop-b.key"), path("loop-a.key"))
    symlink(path("loop-a.key"), path("loop-b.key"))
    for (link, words) in [
      ("link-to-open.key", ["accessible by others"]), ("dangling.key", ["no such file"]),
      ("loop-a.key", ["too many levels of symbolic links"]),
    ] {
      for (tool, arguments, stdin) in try keyUsers(path(link)) {
        let result = try ToolRunner.run(tool, arguments, stdin: stdin, timeout: 20)
        XCTAssertEqual(result.status, 2, "\(tool) \(link): \(result.stderr)")
        assertOneErrorLine(result.stderr, tool, mentions: words)
      }
    }
  }

  /// A key file replaced by a fifo is refused at once, whether or not something holds the fifo
  /// open for writing: the tools do not wait for a writer that may never come. A pipe named as
  /// /dev/fd/N (a shell redirection or process substitution) is still read.
  func testKeyFileReplacedByFifo() throws {
    let fifo = path("fifo.key")
    XCTAssertEqual(mkfifo(fifo, 0o600), 0)
    symlink(fifo, path("link-to-fifo.key"))
    for name in ["fifo.key", "link-to-fifo.key"] {
      for (tool, arguments, stdin) in try keyUsers(path(name)) {
        let start = Date()
        let result = try ToolRunner.run(tool, arguments, stdin: stdin, timeout: 20)
        XCTAssertEqual(result.status, 2, "\(tool) \(name): \(result.stderr)")
        assertOneErrorLine(result.stderr, tool, mentions: ["not a regular file"])
        XCTAssertLessThan(Date().timeIntervalSince(start), 5)
      }
    }
    // A writer that holds the fifo open and never writes.
    let holder = try shell(#"exec 3<>"$1"; sleep 30 </dev/null >/dev/null 2>&1 & echo $!"#, "sc-seal", [fifo])
    XCTAssertEqual(holder.status, 0)
    let sleeper = pid_t(String(decoding: holder.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    let start = Date()
    let held = try ToolRunner.run("sc-seal", ["-k", fifo], stdin: .bytes(Data("x\n".utf8)), timeout: 20)
    if let sleeper { kill(sleeper, SIGKILL) }
    XCTAssertEqual(held.status, 2, held.stderr)
    XCTAssertLessThan(Date().timeIntervalSince(start), 5)

    // The fifo through a descriptor the shell opened (it has a writer: the key is written to it).
    let key = try Data(contentsOf: URL(fileURLWithPath: path("k.key")))
    try key.write(to: URL(fileURLWithPath: path("key.copy")))
    let viaDescriptor = try shell(
      #"cat "$1" >"$2" & exec "$T" -k /dev/fd/3 3<"$2""#, "sc-seal", [path("key.copy"), fifo],
      stdin: .bytes(Data("via a descriptor\n".utf8)))
    XCTAssertEqual(viaDescriptor.status, 0, viaDescriptor.stderr)
    let opened = try ToolRunner.run("sc-open", ["-k", path("k.key")], stdin: .bytes(viaDescriptor.stdout))
    XCTAssertEqual(opened.stdout, Data("via a descriptor\n".utf8), opened.stderr)
  }

  // MARK: - Standard descriptors closed or /dev/null

  func testClosedStandardInputIsReported() throws {
    let sessions = try handshake()
    for (tool, arguments) in [
      ("sc-seal", ["-s", try ToolRunner.sessionCopy(sessions.alice)]), ("sc-seal", ["-k", path("k.key")]),
      ("sc-open", ["-s", sessions.bob]),
      ("sc-open", ["-k", path("k.key")]),
      ("sc-handshake", ["--responder", "-k", path("k.key"), "-n", "bob", "-o", path("x.session")]),
    ] {
      let result = try shell(#"exec "$T" "$@" <&-"#, tool, arguments)
      XCTAssertEqual(result.status, 2, "\(tool) \(arguments): \(result.stderr)")
      assertOneErrorLine(result.stderr, tool, mentions: ["standard input is closed"])
      XCTAssertEqual(result.stdout, Data(), "\(tool) \(arguments) wrote something")
    }
    // With a log, the log file must not become standard input: nothing is read from it or sent.
    let keygen = try ToolRunner.run(
      "sc-keygen", ["--log", "-o", path("chat.seal"), "--verify-key", path("chat.verify")])
    XCTAssertEqual(keygen.status, 0, keygen.stderr)
    let first = try ToolRunner.run(
      "sc-seal",
      ["-s", try ToolRunner.sessionCopy(sessions.alice), "--log", path("chat.log"), "--log-key", path("chat.seal")],
      stdin: .bytes(Data("logged earlier\n".utf8)))
    XCTAssertEqual(first.status, 0, first.stderr)
    let closed = try shell(
      #"exec "$T" "$@" <&-"#, "sc-seal",
      ["-s", try ToolRunner.sessionCopy(sessions.alice), "--log", path("chat.log"), "--log-key", path("chat.seal")])
    XCTAssertEqual(closed.status, 2, closed.stderr)
    XCTAssertEqual(closed.stdout, Data())
    let check = try ToolRunner.run("sc-logcheck", ["-k", path("chat.verify"), path("chat.log")])
    XCTAssertEqual(check.status, 0, check.stdout.description + check.stderr)
  }

  func testClosedStandardOutputIsReported() throws {
    let sessions = try handshake()
    let sealed = try ToolRunner.run(
      "sc-seal", ["-s", try ToolRunner.sessionCopy(sessions.alice)], stdin: .bytes(Data("one\ntwo\n".utf8)))
    XCTAssertEqual(sealed.status, 0, sealed.stderr)
    let keygen = try ToolRunner.run(
      "sc-keygen", ["--log", "-o", path("chat.seal"), "--verify-key", path("chat.verify")])
    XCTAssertEqual(keygen.status, 0, keygen.stderr)
    // With standard output closed, the log must not become standard output (the messages
    // would be written into it in clear and break its chain).
    let opened = try shell(
      #"exec "$T" "$@" >&-"#, "sc-open",
      ["-s", try ToolRunner.sessionCopy(sessions.bob), "--log", path("chat.log"), "--log-key", path("chat.seal")],
      stdin: .bytes(sealed.stdout))
    XCTAssertEqual(opened.status, 2, opened.stderr)
    assertOneErrorLine(opened.stderr, "sc-open", mentions: ["standard output is closed"])
    let log = (try? String(contentsOfFile: path("chat.log"), encoding: .utf8)) ?? ""
    XCTAssertFalse(log.contains("one\ntwo"), "messages written into the log: \(log)")
    if FileManager.default.fileExists(atPath: path("chat.log")) {
      let check = try ToolRunner.run("sc-logcheck", ["-k", path("chat.verify"), path("chat.log")])
      XCTAssertEqual(check.status, 0, check.stderr)
    }
    for (tool, arguments) in [("sc-seal", ["-k", path("k.key")]), ("sc-keygen", [String]())] {
      let result = try shell(#"exec "$T" "$@" >&-"#, tool, arguments, stdin: .bytes(Data("x\n".utf8)))
      XCTAssertEqual(result.status, 2, "\(tool): \(result.stderr)")
      assertOneErrorLine(result.stderr, tool, mentions: ["standard output is closed"])
    }
  }

  /// /dev/null is an empty input, not an error: sc-seal seals nothing (a stream of only the
  /// final frame, an empty sealed file), sc-open -s reports a stream without its final frame.
  func testStandardInputFromDevNull() throws {
    let sessions = try handshake()
    let stream = try ToolRunner.run("sc-seal", ["-s", try ToolRunner.sessionCopy(sessions.alice)], stdin: .none)
    XCTAssertEqual(stream.status, 0, stream.stderr)
    XCTAssertEqual(stream.stdout.count, 84, "one final frame with an empty message")
    let opened = try ToolRunner.run(
      "sc-open", ["-s", try ToolRunner.sessionCopy(sessions.bob)], stdin: .bytes(stream.stdout))
    XCTAssertEqual(opened.status, 0, opened.stderr)
    XCTAssertEqual(opened.stdout, Data())
    let empty = try ToolRunner.run("sc-open", ["-s", try ToolRunner.sessionCopy(sessions.bob)], stdin: .none)
    XCTAssertEqual(empty.status, 1, empty.stderr)
    assertOneErrorLine(empty.stderr, "sc-open", mentions: ["truncated"])
    let file = try ToolRunner.run("sc-seal", ["-k", path("k.key")], stdin: .none)
    XCTAssertEqual(file.status, 0, file.stderr)
    let openedFile = try ToolRunner.run("sc-open", ["-k", path("k.key")], stdin: .bytes(file.stdout))
    XCTAssertEqual(openedFile.status, 0, openedFile.stderr)
    XCTAssertEqual(openedFile.stdout, Data())
    let notSealed = try ToolRunner.run("sc-open", ["-k", path("k.key")], stdin: .none)
    XCTAssertEqual(notSealed.status, 2, notSealed.stderr)
    assertOneErrorLine(notSealed.stderr, "sc-open", mentions: ["not a sealed file"])
  }
}

/// Passes one direction through unchanged until its unit `holdFrom` (0 and 1: handshake
/// messages, then frames), then holds everything; `drop()` throws the held bytes away and ends
/// the direction.
final class GateEditor: RelayEditor {
  private var splitter = SessionUnitSplitter()
  private let holdFrom: Int?
  private var unit = 0
  private var held: [UInt8] = []
  private(set) var ended = false
  var holding: Bool { false }
  var heldBytes: Int { held.count }

  init(holdFrom: Int?) { self.holdFrom = holdFrom }

  func feed(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
    guard !ended else { return [] }
    splitter.append(bytes)
    var out: [UInt8] = []
    while let next = splitter.next() {
      let unitBytes: [UInt8]
      switch next {
      case .handshake(_, let bytes), .frame(_, let bytes, _), .other(let bytes): unitBytes = bytes
      }
      if let holdFrom, unit >= holdFrom { held += unitBytes } else { out += unitBytes }
      unit += 1
    }
    return out
  }

  func finish() -> [UInt8] { ended ? [] : splitter.remainder() }
  func takeInjected() -> [UInt8] { [] }

  func drop() {
    held = []
    ended = true
  }
}
