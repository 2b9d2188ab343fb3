import Foundation
import SecureChatCrypto
import XCTest

@testable import SecureChatProtocol

#if canImport(Glibc)
  import Glibc
#endif

/// DESIGN.md, "Secrets and outputs": every option that writes a secret, plaintext or sealed output
/// (sc-handshake -o, sc-open -o, sc-seal -o, sc-keygen -o, --log, --receipts-to, --delivered,
/// sc-logcheck --state) is run against what another local user, or a mistake, could put at its
/// path: a fifo named by its path, a symbolic link, a file of another user in a sticky
/// world-writable directory, and (where an existing file is reused) a file others may read.
/// Each is refused with status 2 and one error line naming the path, and nothing reaches it.
/// The same outputs named as descriptors the shell opened (/dev/fd/N), or /dev/null, are written.
final class OutputTargetTests: XCTestCase {
  private var directory = ""
  /// A sticky, world-writable directory like /tmp or /dev/shm, inside the test directory.
  private var shared = ""
  /// Another user, for files "created by someone else" (nobody on Debian).
  private let otherUser: uid_t = 65534

  override func setUpWithError() throws {
    try super.setUpWithError()
    for tool in ToolRunner.toolNames { _ = try ToolRunner.path(of: tool) }
    let base = NSTemporaryDirectory().hasSuffix("/") ? NSTemporaryDirectory() : NSTemporaryDirectory() + "/"
    var template = Array((base + "sc-outputs-XXXXXX").utf8CString)
    guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
      throw ToolRunnerError(description: "mkdtemp failed")
    }
    directory = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    // The test directory is 0700; the shared one inside it must be reachable by its other user.
    chmod(directory, 0o711)
    shared = path("shared")
    XCTAssertEqual(mkdir(shared, 0o777), 0)
    XCTAssertEqual(chmod(shared, 0o1777), 0)
    try makeFixtures()
  }

  override func tearDownWithError() throws {
    if !directory.isEmpty { try? FileManager.default.removeItem(atPath: directory) }
    directory = ""
    try super.tearDownWithError()
  }

  // MARK: - Fixture

  private func path(_ name: String) -> String { directory + "/" + name }

  private func write(_ file: String, _ text: String, mode: mode_t = 0o600) {
    unlink(file)
    XCTAssertTrue(FileManager.default.createFile(atPath: file, contents: Data(text.utf8)), file)
    chmod(file, mode)
  }

  private func contents(_ file: String) -> String? {
    FileManager.default.contents(atPath: file).map { String(decoding: $0, as: UTF8.self) }
  }

  private func listing(_ dir: String) -> Set<String> {
    Set((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [])
  }

  /// The bytes each tool reads: a key, a sealed file, the two sessions of one handshake, alice's
  /// stream to bob, bob's stream to alice with a receipt, and a verified log with its key.
  private var aliceStream = Data()
  private var bobStreamWithReceipt = Data()

  private func makeFixtures() throws {
    XCTAssertEqual(try ToolRunner.run("sc-keygen", ["-o", path("k.key")]).status, 0)
    write(path("plain"), "a plaintext\n")
    let sealed = try ToolRunner.run("sc-seal", ["-k", path("k.key"), "-o", path("plain.sc"), path("plain")])
    XCTAssertEqual(sealed.status, 0, sealed.stderr)

    let psk = SecretBytes.random(count: 32)
    let initiator = try Handshake(role: .initiator, psk: psk, localName: Array("alice".utf8))
    let responder = try Handshake(role: .responder, psk: psk, localName: Array("bob".utf8))
    let i1 = try XCTUnwrap(initiator.start())
    XCTAssertNil(responder.start())
    let r1 = try XCTUnwrap(try responder.receive(i1))
    let i2 = try XCTUnwrap(try initiator.receive(r1))
    let r2 = try XCTUnwrap(try responder.receive(i2))
    XCTAssertNil(try initiator.receive(r2))
    for (name, handshake) in [("alice", initiator), ("bob", responder)] {
      let bytes = SessionFile.serialize(try XCTUnwrap(handshake.result)).copyForTesting()
      XCTAssertTrue(
        FileManager.default.createFile(
          atPath: path("\(name).session"), contents: Data(bytes), attributes: [.posixPermissions: 0o600]))
    }
    let toBob = try ToolRunner.run("sc-seal", ["-s", try freshSession("alice")], stdin: .bytes(Data("hello\n".utf8)))
    XCTAssertEqual(toBob.status, 0, toBob.stderr)
    aliceStream = toBob.stdout
    write(path("numbers"), "0\n")
    let toAlice = try ToolRunner.run(
      "sc-seal", ["-s", try freshSession("bob"), "--receipts-from", path("numbers")], stdin: .bytes(Data("hi\n".utf8)))
    XCTAssertEqual(toAlice.status, 0, toAlice.stderr)
    bobStreamWithReceipt = toAlice.stdout

    let keys = try ToolRunner.run(
      "sc-keygen", ["--log", "-o", path("audit.seal"), "--verify-key", path("audit.verify")])
    XCTAssertEqual(keys.status, 0, keys.stderr)
    let logged = try ToolRunner.run(
      "sc-seal", ["-s", try freshSession("alice"), "--log", path("audit.log"), "--log-key", path("audit.seal")],
      stdin: .bytes(Data("logged\n".utf8)))
    XCTAssertEqual(logged.status, 0, logged.stderr)
  }

  /// A copy of alice's or bob's session file for one run: each tool claims its direction of the
  /// file it is given, so a file serves one run (PROTOCOL.md §5).
  private var sessionCount = 0
  private func freshSession(_ name: String) throws -> String {
    sessionCount += 1
    let copy = path("fresh-session-\(sessionCount)")
    XCTAssertTrue(
      FileManager.default.createFile(
        atPath: copy, contents: FileManager.default.contents(atPath: path("\(name).session")),
        attributes: [.posixPermissions: 0o600]))
    return copy
  }

  /// A fresh log sealing key at entry 0, so that a log that is new (or a fifo) would be appended to.
  private var logKeyCount = 0
  private func freshLogKey() throws -> String {
    logKeyCount += 1
    let seal = path("fresh\(logKeyCount).seal")
    let result = try ToolRunner.run("sc-keygen", ["--log", "-o", seal, "--verify-key", seal + ".verify"])
    XCTAssertEqual(result.status, 0, result.stderr)
    return seal
  }

  /// sc-handshake -o TARGET as the responder of a real handshake with an initiator that writes
  /// its own session to a new file: what the responder would write to TARGET is a live session.
  /// `descriptor3`: a file the shell opens as descriptor 3 (`3<>FILE`) first.
  private func handshake(writingTo target: String, descriptor3: String?) throws -> ToolResult {
    unlink(path("initiator.session"))
    unlink(path("hs.pipe"))
    XCTAssertEqual(mkfifo(path("hs.pipe"), 0o600), 0)
    let tool = try ToolRunner.path(of: "sc-handshake")
    return try ToolRunner.runExecutable(
      "/bin/sh",
      [
        "-c",
        #"[ -z "$F" ] || exec 3<>"$F"; "#
          + #""$HS" --initiator -k "$D/k.key" -n alice -o "$D/initiator.session" --timeout 10 <"$D/hs.pipe" 2>/dev/null |"#
          + #" "$HS" --responder -k "$D/k.key" -n bob -o "$TARGET" --timeout 10 >"$D/hs.pipe""#,
      ], stdin: .none, environment: ["HS": tool, "D": directory, "TARGET": target, "F": descriptor3 ?? ""],
      timeout: 30)
  }

  /// One output option: the tool that reports, whether the option reuses an existing file of
  /// the user (so a file others may read is refused rather than replaced or kept), and its
  /// arguments and input with the output at a path.
  private struct OutputOption {
    let name: String
    let tool: String
    let reusesExistingFile: Bool
    let arguments: (String) throws -> [String]
    var stdin: ToolInput = .none
  }

  private var options: [OutputOption] {
    let key = path("k.key")
    let alice = { try self.freshSession("alice") }
    let bob = { try self.freshSession("bob") }
    let hello = ToolInput.bytes(Data("hello\n".utf8))
    return [
      OutputOption(name: "sc-handshake -o", tool: "sc-handshake", reusesExistingFile: false) { _ in [] },
      OutputOption(name: "sc-open -k -o", tool: "sc-open", reusesExistingFile: true) {
        ["-k", key, "-o", $0, self.path("plain.sc")]
      },
      OutputOption(
        name: "sc-open -s -o", tool: "sc-open", reusesExistingFile: true, arguments: { ["-s", try bob(), "-o", $0] },
        stdin: .bytes(aliceStream)),
      OutputOption(name: "sc-seal -k -o", tool: "sc-seal", reusesExistingFile: false) {
        ["-k", key, "-o", $0, self.path("plain")]
      },
      OutputOption(name: "sc-keygen -o", tool: "sc-keygen", reusesExistingFile: false) { ["-o", $0] },
      OutputOption(
        name: "sc-seal -s --log", tool: "sc-seal", reusesExistingFile: true,
        arguments: { ["-s", try alice(), "--log", $0, "--log-key", try self.freshLogKey()] }, stdin: hello),
      OutputOption(
        name: "sc-open -s --log", tool: "sc-open", reusesExistingFile: true,
        arguments: { ["-s", try bob(), "--log", $0, "--log-key", try self.freshLogKey()] }, stdin: .bytes(aliceStream)),
      OutputOption(
        name: "sc-open -s --receipts-to", tool: "sc-open", reusesExistingFile: true,
        arguments: { ["-s", try bob(), "--receipts-to", $0] }, stdin: .bytes(aliceStream)),
      OutputOption(
        name: "sc-open -s --delivered", tool: "sc-open", reusesExistingFile: true,
        arguments: { ["-s", try alice(), "--delivered", $0] }, stdin: .bytes(bobStreamWithReceipt)),
      OutputOption(name: "sc-logcheck --state", tool: "sc-logcheck", reusesExistingFile: true) {
        ["-k", self.path("audit.verify"), "--state", $0, self.path("audit.log")]
      },
    ]
  }

  /// Runs `option` with its output at `target`; with `descriptor3`, through a shell that first
  /// opens that file as descriptor 3 (`3<>FILE`: a fifo opened so does not wait for a reader).
  private func run(_ option: OutputOption, _ target: String, descriptor3: String? = nil) throws -> ToolResult {
    if option.tool == "sc-handshake" { return try handshake(writingTo: target, descriptor3: descriptor3) }
    let arguments = try option.arguments(target)
    guard let descriptor3 else { return try ToolRunner.run(option.tool, arguments, stdin: option.stdin, timeout: 10) }
    return try ToolRunner.runExecutable(
      "/bin/sh", ["-c", #"exec "$@" 3<>"$F""#, "sh", try ToolRunner.path(of: option.tool)] + arguments,
      stdin: option.stdin, environment: ["F": descriptor3], timeout: 10)
  }

  /// Status 2, one `tool: error:` line that names `target`, nothing but error and hint lines.
  private func assertRefused(
    _ result: ToolResult, _ option: OutputOption, naming target: String, _ what: String,
    file: StaticString = #filePath, line: UInt = #line
  ) {
    let context = "\(option.name) \(what): \(result.stderr)"
    XCTAssertEqual(result.status, 2, context, file: file, line: line)
    let lines = result.stderr.split(separator: "\n")
    let errors = lines.filter { $0.hasPrefix("\(option.tool): error: ") }
    XCTAssertEqual(errors.count, 1, context, file: file, line: line)
    XCTAssertTrue(
      errors.first?.contains(target) == true, "the error names \(target): \(context)", file: file, line: line)
    XCTAssertTrue(
      lines.allSatisfy { $0.hasPrefix("\(option.tool): error: ") || $0.hasPrefix("\(option.tool): hint: ") },
      context, file: file, line: line)
  }

  // MARK: - Refused targets

  /// A fifo at the output's path (PROTOCOL.md once suggested /dev/shm/NAME.session): whoever
  /// reads it would get the session keys, the plaintext, the log. It is refused even when the
  /// user made it; a reader holding it open receives nothing.
  func testFifoNamedByPathIsRefusedAndReceivesNothing() throws {
    for option in options {
      let fifo = path("out.fifo")
      unlink(fifo)
      XCTAssertEqual(mkfifo(fifo, 0o600), 0)
      // A reader is there, as the other user's would be: opening for writing would not wait.
      let reader = open(fifo, O_RDONLY | O_NONBLOCK)
      XCTAssertGreaterThanOrEqual(reader, 0)
      defer { close(reader) }
      let result = try run(option, fifo)
      assertRefused(result, option, naming: fifo, "to a fifo")
      var buffer = [UInt8](repeating: 0, count: 1 << 16)
      let n = buffer.withUnsafeMutableBytes { read(reader, $0.baseAddress, $0.count) }
      XCTAssertLessThanOrEqual(n, 0, "\(option.name): the fifo received \(n) bytes")
      var info = stat()
      XCTAssertEqual(lstat(fifo, &info), 0)
      XCTAssertEqual(info.st_mode & S_IFMT, S_IFIFO, "\(option.name): the fifo is still there")
    }
  }

  /// A symbolic link at the output's path, to a file and to a name that does not exist yet: it is
  /// never followed, the file it points to is unchanged (or not created), the link stays.
  func testSymbolicLinkIsNeverFollowed() throws {
    for option in options {
      let target = path("precious")
      write(target, "precious\n")
      let dangling = path("not-there")
      for (what, pointee) in [("to a file", target), ("to a missing file", dangling)] {
        let link = path("out.link")
        unlink(link)
        XCTAssertEqual(symlink(pointee, link), 0)
        let before = listing(directory)
        let result = try run(option, link)
        assertRefused(result, option, naming: link, "through a symbolic link \(what)")
        XCTAssertEqual(contents(target), "precious\n", "\(option.name): the link's target is unchanged")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dangling), "\(option.name): nothing created")
        XCTAssertEqual(
          try? FileManager.default.destinationOfSymbolicLink(atPath: link), pointee, "\(option.name): the link stays")
        // Besides what the test made (the handshake's fifo, the initiator's session, log keys).
        let made = { (name: String) in name.hasPrefix("fresh") || name.hasPrefix("hs.") || name.hasPrefix("initiator.")
        }
        XCTAssertEqual(
          listing(directory).filter { !made($0) }, before.filter { !made($0) }, "\(option.name): no file left behind")
      }
    }
  }

  /// A file another user created at the output's path in a sticky world-writable directory
  /// (/tmp, /dev/shm): it is neither written nor replaced, whatever its mode.
  func testFileOfAnotherUserInASharedDirectoryIsRefused() throws {
    guard geteuid() == 0 else { throw XCTSkip("needs root to make a file of another user") }
    for option in options {
      for mode: mode_t in [0o600, 0o666] {
        let victim = shared + "/out"
        write(victim, "theirs\n", mode: mode)
        XCTAssertEqual(chown(victim, otherUser, otherUser), 0)
        let before = listing(shared)
        let result = try run(option, victim)
        assertRefused(result, option, naming: victim, "to another user's file, mode \(String(mode, radix: 8))")
        XCTAssertEqual(contents(victim), "theirs\n", "\(option.name): their file is unchanged")
        var info = stat()
        XCTAssertEqual(lstat(victim, &info), 0)
        XCTAssertEqual(info.st_uid, otherUser, "\(option.name): still their file, not a new one")
        XCTAssertEqual(listing(shared), before, "\(option.name): no temporary file left in the shared directory")
      }
    }
  }

  /// An existing file of the user that others may read or write is refused, with the hint key
  /// files give, by the options that would keep or replace it; nothing is written to it.
  func testOwnFileAccessibleByOthersIsRefusedWithAHint() throws {
    for option in options where option.reusesExistingFile {
      let file = path("out.public")
      write(file, "public\n", mode: 0o644)
      let result = try run(option, file)
      assertRefused(result, option, naming: file, "to a file of mode 644")
      XCTAssertTrue(result.stderr.contains("hint: restrict it with: chmod 600 \(file)"), result.stderr)
      XCTAssertEqual(contents(file), "public\n", "\(option.name): the file is unchanged")
    }
  }

  // MARK: - Accepted targets

  /// A fifo is written when the shell opened it and the option names the descriptor
  /// (/dev/fd/3), and so is a log file; /dev/null, a device of root's, is written by its path.
  /// (--state is a file that is read, then replaced: it has to be named by its path.)
  func testDescriptorsAndDevNullAreWritten() throws {
    let fifo = path("fd.fifo")
    XCTAssertEqual(mkfifo(fifo, 0o600), 0)
    let reader = open(fifo, O_RDONLY | O_NONBLOCK)
    XCTAssertGreaterThanOrEqual(reader, 0)
    defer { close(reader) }
    for option in options where option.tool != "sc-logcheck" {
      let isLog = option.name.hasSuffix("--log")
      let log = path("fd.log")
      if isLog { write(log, "") }
      let result = try run(option, "/dev/fd/3", descriptor3: isLog ? log : fifo)
      XCTAssertEqual(result.status, 0, "\(option.name) /dev/fd/3: \(result.stderr)")
      if isLog {
        let verify = path("fresh\(logKeyCount).seal.verify")
        let check = try ToolRunner.run("sc-logcheck", ["-k", verify, log])
        XCTAssertEqual(check.status, 0, "\(option.name): the log written through /dev/fd/3 verifies: \(check.stderr)")
      } else {
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        let n = buffer.withUnsafeMutableBytes { read(reader, $0.baseAddress, $0.count) }
        XCTAssertGreaterThan(n, 0, "\(option.name): the fifo behind /dev/fd/3 received the output")
      }
    }
    // /dev/null for every option but --log: a log is a file its writers read back.
    for option in options where !option.name.hasSuffix("--log") {
      let result = try run(option, "/dev/null")
      XCTAssertEqual(result.status, 0, "\(option.name) /dev/null: \(result.stderr)")
    }
  }

  /// The state file is read, then replaced: it must be named by its path. A log on standard
  /// output would mix with the stream or the messages.
  func testStateOnADescriptorAndLogOnStandardOutputAreRefused() throws {
    for option in options where option.name == "sc-logcheck --state" || option.name.hasSuffix("--log") {
      for target in option.tool == "sc-logcheck" ? ["/dev/fd/3", "-"] : ["-"] {
        let result = try run(option, target, descriptor3: path("plain"))
        XCTAssertEqual(result.status, 2, "\(option.name) \(target): \(result.stderr)")
        XCTAssertTrue(result.stderr.hasPrefix("\(option.tool): error: "), "\(option.name) \(target): \(result.stderr)")
        XCTAssertTrue(result.stdout.isEmpty || option.tool == "sc-seal", "\(option.name) \(target)")
      }
    }
  }
}
