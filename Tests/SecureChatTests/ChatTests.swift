import Foundation
import SecureChatCrypto
import SecureChatProtocol
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// `sc-chat` (bin/sc-chat) as users run it: two instances in two tmux windows on one private
/// tmux server, one listening and one connecting on 127.0.0.1, driven with `send-keys` and read
/// with `capture-pane`; and without a terminal, as a script would run it.
///
/// Each chat runs with its own XDG_RUNTIME_DIR, so that the test can see that the private
/// directory it makes there is gone afterwards, and every process started under each window is
/// recorded while the chat runs, so that the test can see that none outlives it.
final class ChatTests: XCTestCase {
  private var directory = ""
  private var tmuxSocket = ""
  private var binDirectory = ""

  static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path
  static let chatScript = repository + "/bin/sc-chat"

  override func setUpWithError() throws {
    try super.setUpWithError()
    binDirectory = (try ToolRunner.path(of: "sc-open") as NSString).deletingLastPathComponent
    let base = NSTemporaryDirectory().hasSuffix("/") ? NSTemporaryDirectory() : NSTemporaryDirectory() + "/"
    var template = Array((base + "sc-chat-test-XXXXXX").utf8CString)
    guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
      throw ToolRunnerError(description: "mkdtemp failed")
    }
    directory = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    for side in ["alice", "bob"] {
      try FileManager.default.createDirectory(
        atPath: runtimeDirectory(side), withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
    }
    for key in ["k.key", "other.key"] {
      let made = try ToolRunner.run("sc-keygen", ["-o", path(key)])
      guard made.status == 0 else { throw ToolRunnerError(description: "sc-keygen: \(made.stderr)") }
    }
    tmuxSocket = "sc-chat-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
  }

  override func tearDownWithError() throws {
    if !tmuxSocket.isEmpty { _ = try? runCommand(["tmux", "-L", tmuxSocket, "kill-server"]) }
    for pid in startedProcesses { kill(pid, SIGKILL) }
    startedProcesses = []
    if !directory.isEmpty { try? FileManager.default.removeItem(atPath: directory) }
    try super.tearDownWithError()
  }

  private func path(_ name: String) -> String { directory + "/" + name }
  private func runtimeDirectory(_ side: String) -> String { path("run-" + side) }

  // MARK: - Processes

  /// Every process seen under a chat window (recorded while it runs), killed in tearDown in
  /// case a test failed with them alive.
  private var startedProcesses: Set<pid_t> = []

  /// Runs a short command to completion and returns its standard output.
  @discardableResult
  private func runCommand(_ argv: [String], timeout: TimeInterval = 20) throws -> String {
    let result = try ToolRunner.runExecutable("/usr/bin/env", argv, stdin: .none, timeout: timeout)
    guard result.status == 0 else {
      throw ToolRunnerError(description: "\(argv.joined(separator: " ")) exited \(result.status): \(result.stderr)")
    }
    return String(decoding: result.stdout, as: UTF8.self)
  }

  private func tmux(_ arguments: String...) throws -> String {
    try runCommand(["tmux", "-L", tmuxSocket] + arguments)
  }

  /// The parent of every process, from /proc.
  private func parents() -> [pid_t: pid_t] {
    var result: [pid_t: pid_t] = [:]
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
      guard let pid = pid_t(entry),
        let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
      else { continue }
      // "pid (comm) state ppid ...": comm may contain spaces, so count from the last ')'.
      let fields = stat[stat.index(after: close)...].split(separator: " ")
      if fields.count > 1, let parent = pid_t(fields[1]) { result[pid] = parent }
    }
    return result
  }

  /// All live descendants of `root`.
  private func descendants(of root: pid_t) -> Set<pid_t> {
    let parentOf = parents()
    var found: Set<pid_t> = []
    var frontier: [pid_t] = [root]
    while let next = frontier.popLast() {
      for (pid, parent) in parentOf where parent == next && !found.contains(pid) {
        found.insert(pid)
        frontier.append(pid)
      }
    }
    return found
  }

  private func isAlive(_ pid: pid_t) -> Bool {
    // A zombie still answers kill(0); it has let go of everything, so count it as gone.
    guard kill(pid, 0) == 0 else { return false }
    let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
    guard let close = stat.lastIndex(of: ")") else { return false }
    return !stat[stat.index(after: close)...].hasPrefix(" Z")
  }

  // MARK: - The two windows

  struct Window {
    let side: String
    let target: String
    let shellPID: pid_t
  }

  private var windows: [String: Window] = [:]

  /// A tmux window (80×24) running a plain bash for `side`, with the tools on PATH and its own
  /// runtime directory.
  private func openWindow(_ side: String) throws -> Window {
    let locale = extraEnvironment["LC_ALL"] ?? "C"
    let environment =
      "env LC_ALL=\(locale) PATH=\(binDirectory):/usr/bin:/bin XDG_RUNTIME_DIR=\(runtimeDirectory(side)) "
      + "HOME=\(directory) PS1='$ ' bash --norc --noprofile"
    if windows.isEmpty {
      _ = try tmux(
        "-f", "/dev/null", "new-session", "-d", "-s", "chat", "-n", side, "-x", "80", "-y", "24", environment)
    } else {
      _ = try tmux("new-window", "-t", "chat", "-n", side, environment)
    }
    let target = "chat:" + side
    let pidText = try tmux("display-message", "-p", "-t", target, "#{pane_pid}")
    guard let pid = pid_t(pidText.trimmingCharacters(in: .whitespacesAndNewlines)) else {
      throw ToolRunnerError(description: "no pane pid for \(side): \(pidText)")
    }
    let window = Window(side: side, target: target, shellPID: pid)
    windows[side] = window
    return window
  }

  /// Types `text` into the window; `enter` adds the Enter key.
  private func type(_ window: Window, _ text: String, enter: Bool = true) throws {
    if !text.isEmpty { _ = try tmux("send-keys", "-t", window.target, "-l", text) }
    if enter { _ = try tmux("send-keys", "-t", window.target, "Enter") }
  }

  private func press(_ window: Window, _ key: String) throws {
    _ = try tmux("send-keys", "-t", window.target, key)
  }

  private func screen(_ window: Window) -> String {
    (try? tmux("capture-pane", "-p", "-J", "-t", window.target)) ?? ""
  }

  /// Waits until the window shows `text` (and records the processes under it meanwhile).
  @discardableResult
  private func waitFor(
    _ window: Window, _ text: String, timeout: TimeInterval = 15, file: StaticString = #filePath, line: UInt = #line
  ) -> String {
    let deadline = Date().addingTimeInterval(timeout)
    var shown = ""
    while Date() < deadline {
      startedProcesses.formUnion(descendants(of: window.shellPID))
      shown = screen(window)
      if shown.contains(text) { return shown }
      usleep(50_000)
    }
    XCTFail("\(window.side)'s window never showed \"\(text)\"; it shows:\n\(shown)", file: file, line: line)
    return shown
  }

  /// Starts sc-chat in the window; its exit status is written to `<side>.status` when it ends.
  private func startChat(_ window: Window, _ arguments: String) throws {
    try type(window, "cd \(directory); \(Self.chatScript) \(arguments); echo $? >\(window.side).status")
  }

  private func exitStatus(_ window: Window, timeout: TimeInterval = 15) -> Int32? {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
      if let text = try? String(contentsOfFile: path(window.side + ".status"), encoding: .utf8),
        let status = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
      {
        return status
      }
      usleep(50_000)
    }
    return nil
  }

  /// Bob listens, Alice connects; returns once both show the verification code, which must be
  /// the same on both screens.
  /// Waits until both windows show a verification code, and checks that it is one code (the
  /// first one each window shows). Returns both screens.
  @discardableResult
  private func assertBothShowOneVerificationCode(
    _ alice: Window, _ bob: Window, file: StaticString = #filePath, line: UInt = #line
  ) -> (alice: String, bob: String) {
    let aliceScreen = waitFor(alice, "verification code: ", file: file, line: line)
    let bobScreen = waitFor(bob, "verification code: ", file: file, line: line)
    let codes = [aliceScreen, bobScreen].map { screen in
      screen.split(separator: "\n").first { $0.contains("verification code: ") }.map(String.init) ?? ""
    }
    XCTAssertTrue(codes[0].contains(where: \.isNumber), codes[0], file: file, line: line)
    XCTAssertEqual(codes[0], codes[1], "both sides show the same verification code", file: file, line: line)
    return (aliceScreen, bobScreen)
  }

  /// Alice's Ctrl-D ends the chat for both: bob sees it, both exit 0, and nothing is left.
  private func aliceEndsWithCtrlD(
    _ alice: Window, _ bob: Window, file: StaticString = #filePath, line: UInt = #line
  ) throws {
    try press(alice, "C-d")
    waitFor(bob, "alice ended the chat", file: file, line: line)
    XCTAssertEqual(exitStatus(alice), 0, file: file, line: line)
    XCTAssertEqual(exitStatus(bob), 0, file: file, line: line)
    assertNothingLeft(file: file, line: line)
  }

  private func connectPair(
    bobKey: String = "k.key", aliceKey: String = "k.key", bobOptions: String = "", expectSuccess: Bool = true
  ) throws -> (alice: Window, bob: Window) {
    try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux"), "tmux is not installed")
    let port = try ToolRunner.freeLoopbackPort()
    pairPort = port
    let bob = try openWindow("bob")
    let alice = try openWindow("alice")
    try startChat(bob, "-n bob -k \(bobKey) \(bobOptions)listen \(port)")
    waitFor(bob, "waiting for a peer on port \(port)")
    try startChat(alice, "-n alice -k \(aliceKey) connect 127.0.0.1 \(port)")
    guard expectSuccess else { return (alice, bob) }
    let (aliceScreen, bobScreen) = assertBothShowOneVerificationCode(alice, bob)
    XCTAssertTrue(aliceScreen.contains("connected to bob"), aliceScreen)
    XCTAssertTrue(bobScreen.contains("connected to alice"), bobScreen)
    return (alice, bob)
  }

  /// The port of the last connectPair.
  private var pairPort: UInt16 = 0

  private func assertNothingLeft(file: StaticString = #filePath, line: UInt = #line) {
    for side in ["alice", "bob"] {
      let left = (try? FileManager.default.contentsOfDirectory(atPath: runtimeDirectory(side))) ?? ["?"]
      XCTAssertEqual(left, [], "\(side)'s private directory is removed", file: file, line: line)
    }
    XCTAssertFalse(startedProcesses.isEmpty, "the test saw the chats' processes", file: file, line: line)
    let deadline = Date().addingTimeInterval(5)
    var alive = startedProcesses.filter(isAlive)
    while !alive.isEmpty && Date() < deadline {
      usleep(50_000)
      alive = startedProcesses.filter(isAlive)
    }
    let names = alive.map { pid in
      (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8))?.replacingOccurrences(of: "\0", with: " ")
        ?? "\(pid)"
    }
    XCTAssertEqual(names, [], "no process of the chats is left", file: file, line: line)
  }

  // MARK: - In tmux

  func testLinesTypedOnEachSideAppearOnTheOtherAndCtrlDEndsBoth() throws {
    let (alice, bob) = try connectPair()
    XCTAssertEqual(
      (try? FileManager.default.contentsOfDirectory(atPath: runtimeDirectory("alice")))?.count, 1,
      "alice's chat keeps its secrets in one private directory under XDG_RUNTIME_DIR")

    try type(alice, "hello from alice")
    waitFor(bob, "alice: hello from alice")
    // Bob's receipt marks alice's own line delivered, in place ('+' without a UTF-8 locale).
    waitFor(alice, "+ [")
    XCTAssertEqual(ownLine(alice, "alice: hello from alice")?.first, "+", screen(alice))
    try type(bob, "hi alice, bob here")
    waitFor(alice, "bob: hi alice, bob here")

    // A half-typed line stays where it is while a message arrives.
    try type(bob, "half a li", enter: false)
    waitFor(bob, "bob> half a li")
    try type(alice, "are you typing?")
    let bobScreen = waitFor(bob, "alice: are you typing?")
    XCTAssertEqual(
      bobScreen.split(separator: "\n").last.map(String.init), "bob> half a li",
      "the input line still shows what bob was typing")
    try type(bob, "ne, finished")
    waitFor(alice, "bob: half a line, finished")

    // A line longer than the events' inline limit (1,000 characters) goes through a file on
    // both sides; it wraps over many rows, and its mark still lands on its first row.
    let long = "long " + String(repeating: "0123456789", count: 110)
    try type(bob, long)
    waitFor(alice, "bob: " + long)
    waitFor(bob, "+ [")
    XCTAssertEqual(ownLine(bob, "bob: " + long)?.first, "+", screen(bob))

    // A peer's control characters are shown, not obeyed. (Ctrl-V makes ESC a character of the
    // line rather than the start of a key's escape sequence.)
    try type(alice, "clear ", enter: false)
    try press(alice, "C-v")
    try type(alice, "\u{1b}[2J screen")
    waitFor(bob, "alice: clear ^[[2J screen")

    try press(alice, "C-d")
    waitFor(alice, "you ended the chat")
    waitFor(bob, "alice ended the chat")
    XCTAssertEqual(exitStatus(alice), 0)
    XCTAssertEqual(exitStatus(bob), 0)
    assertNothingLeft()
  }

  func testQuitCommandEndsBothCleanly() throws {
    let (alice, bob) = try connectPair()
    try type(bob, "/quit")
    waitFor(bob, "you ended the chat")
    waitFor(alice, "bob ended the chat")
    XCTAssertEqual(exitStatus(bob), 0)
    XCTAssertEqual(exitStatus(alice), 0)
    XCTAssertFalse(screen(alice).contains("bob: /quit"), "/quit is a command, not a message")
    assertNothingLeft()
  }

  func testWrongKeyShowsAuthenticationFailedOnBothSides() throws {
    let (alice, bob) = try connectPair(aliceKey: "other.key", expectSuccess: false)
    waitFor(alice, "rejected by the peer")
    waitFor(bob, "did not authenticate: authentication failed")
    XCTAssertEqual(exitStatus(alice), 1)
    // The listener reports the failed attempt and goes on listening (--once would end it).
    XCTAssertNil(exitStatus(bob, timeout: 1), screen(bob))
    XCTAssertFalse(screen(alice).contains("verification code"), screen(alice))
    XCTAssertFalse(screen(bob).contains("verification code"), screen(bob))
    try press(bob, "C-c")
    XCTAssertEqual(exitStatus(bob), 130)
    assertNothingLeft()
  }

  /// Issue 13: a listener on a terminal survives a stray connection (what a port scanner or
  /// `echo GET | socat - TCP:host:port` makes) and a peer with a wrong key, says so for each, and
  /// then chats with the right peer as if nothing had happened.
  func testAListenerSurvivesAStrayConnectionAndAWrongKeyThenChats() throws {
    let (alice, bob) = try connectPair(aliceKey: "other.key", expectSuccess: false)
    waitFor(bob, "did not authenticate: authentication failed")
    XCTAssertEqual(exitStatus(alice), 1)
    listeningPort = pairPort
    waitUntilBobListens()
    _ = try ToolRunner.runExecutable(
      "/bin/sh", ["-c", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | socat -t 1 - TCP:127.0.0.1:\(pairPort)"],
      stdin: .none, timeout: 10)
    let deadline = Date().addingTimeInterval(10)
    while Date() < deadline && occurrences(of: "did not authenticate", in: screen(bob)) < 2 { usleep(50_000) }
    XCTAssertEqual(occurrences(of: "did not authenticate", in: screen(bob)), 2, screen(bob))
    XCTAssertNil(exitStatus(bob, timeout: 0.5), screen(bob))
    waitUntilBobListens()
    try FileManager.default.removeItem(atPath: path("alice.status"))
    try startChat(alice, "-n alice -k k.key connect 127.0.0.1 \(pairPort)")
    assertBothShowOneVerificationCode(alice, bob)
    try type(alice, "third time lucky")
    waitFor(bob, "alice: third time lucky")
    try type(bob, "welcome")
    waitFor(alice, "bob: welcome")
    try aliceEndsWithCtrlD(alice, bob)
  }

  func testCtrlCLeavesNoDirectoryAndNoProcessAndThePeerSeesTheBreak() throws {
    let (alice, bob) = try connectPair(bobOptions: "--no-reconnect ")
    try type(alice, "one message before")
    waitFor(bob, "alice: one message before")
    waitFor(alice, "alice: one message before")  // records alice's processes once more
    try press(alice, "C-c")
    XCTAssertEqual(exitStatus(alice), 130)
    try assertTheTerminalIsGivenBack(alice)
    waitFor(bob, "the chat with alice broke off")
    XCTAssertEqual(exitStatus(bob), 1, "a chat cut without the final frame is a failed integrity check")
    assertNothingLeft()
  }

  func testCtrlCWhileListeningLeavesNothing() throws {
    try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux"), "tmux is not installed")
    let port = try ToolRunner.freeLoopbackPort()
    let bob = try openWindow("bob")
    try startChat(bob, "-n bob -k k.key listen \(port)")
    waitFor(bob, "waiting for a peer")
    try press(bob, "C-c")
    XCTAssertEqual(exitStatus(bob), 130)
    assertNothingLeft()
  }

  /// The line of the window that contains `text`.
  private func ownLine(_ window: Window, _ text: String) -> String? {
    screen(window).split(separator: "\n").first { $0.contains(text) }.map(String.init)
  }

  private func occurrences(of text: String, in shown: String) -> Int {
    shown.components(separatedBy: text).count - 1
  }

  func testWithoutACommandTheTerminalOffersThePeersOfTheAddressBook() throws {
    try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux"), "tmux is not installed")
    let port = try ToolRunner.freeLoopbackPort()
    let book = "securechat-peers-v1\ncarol - - k.key carol\nbob 127.0.0.1 \(port) k.key bob\n"
    let bookPath = path("alice.peers")
    XCTAssertTrue(
      FileManager.default.createFile(
        atPath: bookPath, contents: Data(book.utf8), attributes: [.posixPermissions: 0o600]))
    let bob = try openWindow("bob")
    let alice = try openWindow("alice")
    try startChat(bob, "-n bob -k k.key listen \(port)")
    waitFor(bob, "waiting for a peer on port \(port)")
    try startChat(alice, "-n alice -p alice.peers")
    let menu = waitFor(alice, "Chat with (number or name): ")
    XCTAssertTrue(menu.contains("1) bob  (127.0.0.1 port \(port), authenticates as bob)"), menu)
    XCTAssertFalse(menu.contains("carol"), "a peer without an address is not offered")
    try type(alice, "1")
    waitFor(alice, "connected to bob (127.0.0.1 port \(port)) (peers entry 'bob')")
    waitFor(bob, "connected to alice")
    try type(alice, "/quit")
    waitFor(bob, "alice ended the chat")
    XCTAssertEqual(exitStatus(alice), 0)
    XCTAssertEqual(exitStatus(bob), 0)
    assertNothingLeft()
  }

  /// Issue 12, finding 6: a peer's line wrapped so that its second row reads like a status line
  /// is still not one: status lines start with a mark in reverse video, which the peer's text
  /// (its ESC shown as ^[) cannot produce.
  func testAPeerCannotDrawAStatusLine() throws {
    let (alice, bob) = try connectPair()
    let fake = " sc-chat  verification code: 000 000 000 000"
    // "  [12:34:56] bob: " takes 18 columns of alice's 80: the fake starts a row of its own.
    try type(bob, String(repeating: "x", count: 80 - 18) + fake)
    waitFor(alice, "000 000 000 000")
    let rows = (try tmux("capture-pane", "-p", "-e", "-t", alice.target)).split(separator: "\n").map(String.init)
    let reverseVideo = "\u{1b}[7m"
    let genuine = rows.filter { $0.contains("verification code: ") && !$0.contains("000 000 000 000") }
    XCTAssertFalse(genuine.isEmpty, rows.joined(separator: "\n"))
    XCTAssertTrue(genuine.allSatisfy { $0.hasPrefix(reverseVideo) }, rows.joined(separator: "\n"))
    let spoof = try XCTUnwrap(rows.first { $0.contains("000 000 000 000") }, rows.joined(separator: "\n"))
    XCTAssertFalse(spoof.contains(reverseVideo), spoof)
    try type(alice, "/quit")
    waitFor(bob, "alice ended the chat")
    XCTAssertEqual(exitStatus(alice), 0)
    XCTAssertEqual(exitStatus(bob), 0)
  }

  /// Issue 13, defect 5: a line of double-width characters takes two columns each, so a line of
  /// 45 of them fills two rows; the mark of the next own line must still land on that line's row.
  func testDoubleWidthCharactersKeepTheMarksOnTheirRows() throws {
    extraEnvironment = ["LC_ALL": "C.UTF-8"]
    let (alice, bob) = try connectPair()
    let wide = String(repeating: "漢", count: 45)
    try type(alice, wide)
    waitFor(bob, "alice: " + wide)
    try type(alice, "after the wide line")
    waitFor(bob, "alice: after the wide line")
    let deadline = Date().addingTimeInterval(5)
    while Date() < deadline && ownLine(alice, "alice: after the wide line")?.first != "✓" { usleep(50_000) }
    XCTAssertEqual(ownLine(alice, "alice: after the wide line")?.first, "✓", screen(alice))
    XCTAssertEqual(ownLine(alice, "alice: " + String(repeating: "漢", count: 10))?.first, "✓", screen(alice))
    try type(alice, "/quit")
    waitFor(bob, "alice ended the chat")
  }

  /// The input line of a window: its last row, where the cursor is, and the window's size.
  private struct InputLine {
    var row = "", cursorX = -1, cursorY = -1, width = 0, height = 0
  }

  private func inputLine(_ window: Window) -> InputLine {
    let rows = ((try? tmux("capture-pane", "-p", "-t", window.target)) ?? "").split(
      separator: "\n", omittingEmptySubsequences: false)
    let numbers =
      ((try? tmux(
        "display-message", "-p", "-t", window.target, "#{cursor_x} #{cursor_y} #{window_width} #{window_height}"))
      ?? "").split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
    guard numbers.count == 4 else { return InputLine() }
    // capture-pane ends each of the window's rows with a newline.
    let last = numbers[3] - 1
    return InputLine(
      row: last < rows.count ? String(rows[last]) : "", cursorX: numbers[0], cursorY: numbers[1],
      width: numbers[2], height: numbers[3])
  }

  /// Waits until the input line of the window satisfies `condition`.
  @discardableResult
  private func waitForInputLine(
    _ window: Window, _ what: String, file: StaticString = #filePath, line: UInt = #line,
    _ condition: (InputLine) -> Bool
  ) -> InputLine {
    let deadline = Date().addingTimeInterval(10)
    var input = inputLine(window)
    while !condition(input) && Date() < deadline {
      usleep(50_000)
      input = inputLine(window)
    }
    XCTAssertTrue(condition(input), "\(window.side)'s input line: \(what); it is \(input)", file: file, line: line)
    return input
  }

  /// A line wider than the window stays in view: the input line scrolls sideways to keep the
  /// cursor in it, also after the window is resized, and it can be edited before it is sent.
  func testALineWiderThanTheWindowScrollsSidewaysAndCanBeEdited() throws {
    let (alice, bob) = try connectPair()
    _ = try tmux("resize-window", "-t", alice.target, "-x", "40", "-y", "15")
    // (capture-pane leaves out the blanks at the end of a row.)
    waitForInputLine(alice, "the prompt on the last row of 15") { $0.height == 15 && $0.row == "alice>" }
    let typed = "begin " + String(repeating: "0123456789", count: 9) + "...END"  // 102 characters
    try type(alice, typed, enter: false)
    // The end of the line and the cursor after it; what is hidden on the left is marked <.
    var input = waitForInputLine(alice, "the end of the long line, with the cursor") {
      $0.row.hasPrefix("alice> <") && $0.row.hasSuffix("...END") && $0.cursorX == $0.row.count && $0.cursorY == 14
    }
    XCTAssertLessThan(input.row.count, 40, "the text stays within the row: \(input)")

    _ = try tmux("resize-window", "-t", alice.target, "-x", "60", "-y", "20")
    waitForInputLine(alice, "the prompt and the end of the line on the new last row, with the cursor") {
      $0.height == 20 && $0.width == 60 && $0.row.hasPrefix("alice> ") && $0.row.hasSuffix("...END")
        && $0.cursorX == $0.row.count && $0.cursorY == 19
    }

    // Left three times, Backspace, "!": the third dot becomes "!".
    for _ in 0..<3 { try press(alice, "Left") }
    try press(alice, "BSpace")
    try type(alice, "!", enter: false)
    input = waitForInputLine(alice, "the edit before END, the cursor on its E") {
      $0.row.hasSuffix("..!END") && $0.cursorX == $0.row.count - 3
    }
    // Home shows the start of the line, and what is hidden on the right is marked >.
    try press(alice, "Home")
    input = waitForInputLine(alice, "the start of the line, with the cursor") {
      $0.row.hasPrefix("alice> begin 0123") && $0.row.hasSuffix(">") && $0.cursorX == 7
    }
    XCTAssertLessThan(input.row.count, 60, "the text stays within the row: \(input)")
    // Ctrl-U takes back what was typed before the cursor.
    try type(alice, "junk ", enter: false)
    try press(alice, "C-u")
    try type(alice, "edited: ")
    let sent = "edited: begin " + String(repeating: "0123456789", count: 9) + "..!END"
    let shown = waitFor(bob, "alice: edited: ")
    XCTAssertEqual(
      shown.split(separator: "\n").first { $0.contains("alice: edited: ") }.map {
        String($0.split(separator: "alice: ", maxSplits: 1)[1])
      },
      sent, "the peer gets the edited line, exactly")
    waitForInputLine(alice, "the prompt, empty again") { $0.row == "alice>" && $0.cursorX == 7 }
    try aliceEndsWithCtrlD(alice, bob)
    try assertTheTerminalIsGivenBack(alice)
  }

  /// The terminal's settings are back as they were (a line at a time, echoed) once sc-chat has
  /// ended: the shell in the window runs stty.
  private func assertTheTerminalIsGivenBack(
    _ window: Window, file: StaticString = #filePath, line: UInt = #line
  ) throws {
    try type(window, "stty -a | grep -o -e ' icanon' -e ' echo ' | tr -d ' \\n'; echo ' =terminal'")
    waitFor(window, "icanonecho =terminal", file: file, line: line)
  }

  func testReconnectCommandRetriesAtOnceDuringTheBackOff() throws {
    let (alice, bob) = try connectPair()
    // While connected there is nothing to do, and sc-chat says so (it used to say nothing).
    try type(alice, "/reconnect")
    waitFor(alice, "connected to bob: nothing to reconnect (/reconnect is for a broken connection)")
    // Bob's side goes away without a final frame, and stays away: alice's waits grow 1, 2, 4, 8 s.
    try press(bob, "C-c")
    XCTAssertEqual(exitStatus(bob), 130)
    waitFor(alice, "the chat with bob broke off")
    waitFor(alice, "reconnecting to 127.0.0.1 port \(pairPort) in 8 s", timeout: 20)
    try FileManager.default.removeItem(atPath: path("bob.status"))
    try startChat(bob, "-n bob -k k.key listen \(pairPort)")
    listeningPort = pairPort
    waitUntilBobListens()
    try type(alice, "/reconnect")
    waitFor(alice, "reconnecting to 127.0.0.1 port \(pairPort) now")
    // Well before the 8 s are over (the check is generous: it only has to beat the timer). The
    // first try, to continue the session, is refused by the new bob; the second comes at once.
    let deadline = Date().addingTimeInterval(6)
    while Date() < deadline && occurrences(of: "verification code: ", in: screen(alice)) < 2 { usleep(50_000) }
    XCTAssertEqual(occurrences(of: "verification code: ", in: screen(alice)), 2, screen(alice))
    waitFor(bob, "connected to alice")
    // The new bob holds nothing of the session alice verified: her first try to continue it is
    // refused, and the new session she then makes is not verified until she confirms its code.
    waitFor(alice, "NOT VERIFIED")
    XCTAssertTrue(screen(bob).contains("did not authenticate"), screen(bob))
    try type(alice, "back again")
    usleep(1_500_000)
    XCTAssertFalse(screen(bob).contains("back again"), "nothing is sent before /confirm: \(screen(bob))")
    try type(alice, "/confirm")
    waitFor(bob, "alice: back again")
    try aliceEndsWithCtrlD(alice, bob)
  }

  func testACutConnectionReconnectsAndTheLinesGoOnWithReceipts() throws {
    let (alice, bob) = try connectPair()
    try type(alice, "before the cut")
    waitFor(bob, "alice: before the cut")
    waitFor(alice, "+ [")
    // The link breaks: alice's socat dies without a word.
    let socats = descendants(of: alice.shellPID).filter { pid in
      ((try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? "").hasPrefix("socat\0")
    }
    XCTAssertEqual(socats.count, 1, "alice's chat runs one socat")
    for pid in socats { kill(pid, SIGKILL) }
    waitFor(alice, "the chat with bob broke off")
    waitFor(alice, "reconnecting to 127.0.0.1 port")
    waitFor(bob, "the chat with alice broke off")
    waitFor(bob, "waiting for alice on port")
    try type(alice, "typed while cut off")
    waitFor(bob, "alice: typed while cut off", timeout: 20)
    let aliceScreen = waitFor(alice, "connected to bob (127.0.0.1 port")
    XCTAssertEqual(occurrences(of: "verification code: ", in: aliceScreen), 2, "a new handshake: a new code")
    try type(alice, "/reconnect")  // a command (retry now when waiting), never a message
    try type(bob, "bob after the reconnect")
    waitFor(alice, "bob: bob after the reconnect")
    waitFor(bob, "+ [")
    XCTAssertEqual(ownLine(bob, "bob: bob after the reconnect")?.first, "+", screen(bob))
    XCTAssertEqual(ownLine(alice, "alice: typed while cut off")?.first, "+", screen(alice))
    XCTAssertEqual(occurrences(of: "alice: before the cut", in: screen(bob)), 1)
    XCTAssertFalse(screen(bob).contains("/reconnect"), screen(bob))
    try aliceEndsWithCtrlD(alice, bob)
  }

  // MARK: - Without a terminal

  private func chat(
    _ arguments: [String], stdin: ToolInput = .none, timeout: TimeInterval = 30, side: String = "alice"
  ) throws -> ToolResult {
    try Self.runChat(arguments, stdin: stdin, environment: environment(side), directory: directory, timeout: timeout)
  }

  private func environment(_ side: String) -> [String: String] {
    ["PATH": binDirectory + ":/usr/bin:/bin", "XDG_RUNTIME_DIR": runtimeDirectory(side), "HOME": directory]
      .merging(extraEnvironment) { $1 }
  }
  private var extraEnvironment: [String: String] = [:]

  private static func runChat(
    _ arguments: [String], stdin: ToolInput, environment: [String: String], directory: String,
    timeout: TimeInterval = 30
  ) throws -> ToolResult {
    try ToolRunner.runExecutable(
      chatScript, arguments, stdin: stdin, environment: environment, directory: directory, timeout: timeout)
  }

  /// Runs sc-chat with `input` on standard input, then holds standard input open until the
  /// output shows `holdUntil` (at most 20 s): the way a script that waits for an answer before it
  /// hangs up would run it. When either side ends, the chat ends for both, so a side that
  /// stopped at the end of its input could cut the other's lines short.
  private static func runChatHolding(
    _ arguments: [String], input: Data, holdUntil: String?, side: String, environment: [String: String],
    directory: String
  ) throws -> ToolResult {
    let inputPath = directory + "/" + side + ".input"
    let outputPath = directory + "/" + side + ".output"
    try input.write(to: URL(fileURLWithPath: inputPath))
    let script = """
      input=$1 marker=$2 output=$3; shift 3
      {
        cat "$input"
        if [ -n "$marker" ]; then
          for _ in $(seq 400); do grep -qF -- "$marker" "$output" 2>/dev/null && break; sleep 0.05; done
        fi
      } | "$@" >"$output"
      """
    let result = try ToolRunner.runExecutable(
      "/bin/bash", ["-c", script, "bash", inputPath, holdUntil ?? "", outputPath, chatScript] + arguments,
      stdin: .none, environment: environment, directory: directory, timeout: 40)
    let output = FileManager.default.contents(atPath: outputPath) ?? Data()
    return ToolResult(status: result.status, stdout: output, stderr: result.stderr)
  }

  /// One side in the background (a Thread running `chat`), the other in front.
  private func scriptedPair(
    bob bobArguments: [String], bobInput: Data, alice aliceArguments: [String], aliceInput: Data,
    bobHoldsUntil bobMarker: String? = nil, aliceHoldsUntil aliceMarker: String? = nil
  ) throws -> (alice: ToolResult, bob: ToolResult) {
    nonisolated(unsafe) var bobResult: Result<ToolResult, Error>?
    let done = DispatchSemaphore(value: 0)
    let (bobEnvironment, directory) = (environment("bob"), directory)
    let thread = Thread {
      bobResult = Result {
        try Self.runChatHolding(
          bobArguments, input: bobInput, holdUntil: bobMarker, side: "bob", environment: bobEnvironment,
          directory: directory)
      }
      done.signal()
    }
    thread.start()
    waitUntilBobListens()  // before alice connects
    let alice = try Self.runChatHolding(
      aliceArguments, input: aliceInput, holdUntil: aliceMarker, side: "alice", environment: environment("alice"),
      directory: directory)
    guard done.wait(timeout: .now() + 40) == .success, let bobResult else {
      throw ToolRunnerError(description: "bob's sc-chat did not finish")
    }
    return (alice, try bobResult.get())
  }

  private var listeningPort: UInt16 = 0

  /// Waits (at most 10 s) until something listens on `listeningPort`.
  private func waitUntilBobListens() {
    let deadline = Date().addingTimeInterval(10)
    while Date() < deadline && !isListeningInBob() { usleep(20_000) }
  }

  private func isListeningInBob() -> Bool {
    let table = (try? String(contentsOfFile: "/proc/net/tcp", encoding: .utf8)) ?? ""
    let local = String(format: ":%04X", listeningPort)
    return table.split(separator: "\n").contains { row in
      let fields = row.split(separator: " ")
      return fields.count > 3 && fields[1].hasSuffix(local) && fields[3] == "0A"
    }
  }

  func testScriptedChatCarriesLinesBothWaysAndEscapesControls() throws {
    listeningPort = try ToolRunner.freeLoopbackPort()
    let bobLines = (0..<200).map { "bob line \($0)" }
    let aliceLines = (0..<200).map { "alice line \($0)" } + ["bell \u{07} and \u{1b}]0;title\u{07} end"]
    let (alice, bob) = try scriptedPair(
      bob: ["-n", "bob", "-k", "k.key", "listen", String(listeningPort)],
      bobInput: Data((bobLines.joined(separator: "\n") + "\n").utf8),
      alice: ["-n", "alice", "-k", "k.key", "connect", "127.0.0.1", String(listeningPort)],
      aliceInput: Data((aliceLines.joined(separator: "\n") + "\n").utf8),
      bobHoldsUntil: "alice: bell", aliceHoldsUntil: "bob: bob line 199")
    XCTAssertEqual(alice.status, 0, alice.stderr)
    XCTAssertEqual(bob.status, 0, bob.stderr)
    func messages(_ output: Data, from sender: String) -> [String] {
      String(decoding: output, as: UTF8.self).split(separator: "\n").map { line in
        // "[HH:MM:SS] sender: text"
        XCTAssertTrue(line.hasPrefix("["), String(line))
        let afterTime = line.drop { $0 != "]" }.dropFirst(2)
        XCTAssertTrue(afterTime.hasPrefix(sender + ": "), String(line))
        return String(afterTime.dropFirst(sender.count + 2))
      }
    }
    XCTAssertEqual(messages(alice.stdout, from: "bob"), bobLines, "alice got every line of bob's, in order")
    XCTAssertEqual(
      messages(bob.stdout, from: "alice"),
      Array(aliceLines.dropLast()) + ["bell ^G and ^[]0;title^G end"], "bob got alice's lines, controls escaped")
    XCTAssertFalse(bob.stdout.contains(0x1b), "no escape byte reaches bob's output")
    XCTAssertTrue(alice.stderr.contains("sc-chat: verification code: "), alice.stderr)
    XCTAssertEqual(
      (try? FileManager.default.contentsOfDirectory(atPath: runtimeDirectory("alice"))) ?? ["?"], [],
      "alice's private directory is removed")
    XCTAssertEqual((try? FileManager.default.contentsOfDirectory(atPath: runtimeDirectory("bob"))) ?? ["?"], [])
  }

  /// sc-chat --log with a public log's signing key (FORMATS.md §9.8): each side's log verifies
  /// with its audit key alone, holds the messages, and ends sealed (both directions closed and
  /// signed by a checkpoint, nothing unsealed).
  func testScriptedChatWritesPublicLogsThatTheAuditKeyVerifies() throws {
    listeningPort = try ToolRunner.freeLoopbackPort()
    var audit: [String: String] = [:]
    for side in ["alice", "bob"] {
      let made = try ToolRunner.run("sc-keygen", ["--log", "--public", "-o", path(side + ".sign")])
      XCTAssertEqual(made.status, 0, made.stderr)
      audit[side] = String(decoding: made.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
    let (alice, bob) = try scriptedPair(
      bob: ["-n", "bob", "-k", "k.key", "--log", "bob.log", "--log-key", "bob.sign", "listen", String(listeningPort)],
      bobInput: Data("hello alice\n".utf8),
      alice: [
        "-n", "alice", "-k", "k.key", "--log", "alice.log", "--log-key", "alice.sign", "--checkpoints-to",
        "alice.checkpoints", "connect", "127.0.0.1", String(listeningPort),
      ],
      aliceInput: Data("hello bob\n".utf8), bobHoldsUntil: "alice: hello bob", aliceHoldsUntil: "bob: hello alice")
    XCTAssertEqual(alice.status, 0, alice.stderr)
    XCTAssertEqual(bob.status, 0, bob.stderr)
    for side in ["alice", "bob"] {
      let checked = try ToolRunner.run("sc-logcheck", ["-p", audit[side]!, "--max-unsealed", "0", path(side + ".log")])
      XCTAssertEqual(checked.status, 0, "\(side): \(checked.stderr)")
      let report = String(decoding: checked.stdout, as: UTF8.self)
      XCTAssertTrue(report.contains(" checkpoints, the newest at entry "), report)
      XCTAssertFalse(report.contains("not closed"), report)
      let log = try String(contentsOfFile: path(side + ".log"), encoding: .utf8)
      XCTAssertTrue(log.contains(side == "alice" ? "hello bob" : "hello alice"), log)
      // The other side's audit key verifies nothing of it.
      let other = try ToolRunner.run(
        "sc-logcheck", ["-p", audit[side == "alice" ? "bob" : "alice"]!, path(side + ".log")])
      XCTAssertEqual(other.status, 1, other.stderr)
      XCTAssertTrue(other.stderr.contains(": forged: "), other.stderr)
    }
    // Alice's copy of her checkpoints (--checkpoints-to, from both her writers) is her log's.
    let copy = try String(contentsOfFile: path("alice.checkpoints"), encoding: .utf8)
    let logged = try String(contentsOfFile: path("alice.log"), encoding: .utf8).split(separator: "\n")
      .filter { $0.contains(" checkpoint - - ") }
    XCTAssertEqual(copy.split(separator: "\n"), logged)
    XCTAssertGreaterThanOrEqual(logged.count, 2)
    let withCopy = try ToolRunner.run(
      "sc-logcheck", ["-p", audit["alice"]!, "--checkpoints", path("alice.checkpoints"), path("alice.log")])
    XCTAssertEqual(withCopy.status, 0, withCopy.stderr)
  }

  func testPipeModeChatsOverAnyCommand() throws {
    // Bob listens on TCP; Alice reaches him through a command (as she would through ssh).
    listeningPort = try ToolRunner.freeLoopbackPort()
    let (alice, bob) = try scriptedPair(
      bob: ["-n", "bob", "-k", "k.key", "listen", String(listeningPort)],
      bobInput: Data("over the pipe\n".utf8),
      alice: ["-n", "alice", "-k", "k.key", "pipe", "initiator", "socat", "-", "TCP:127.0.0.1:\(listeningPort)"],
      aliceInput: Data("hello through socat as a command\n".utf8),
      bobHoldsUntil: "alice: hello", aliceHoldsUntil: "bob: over the pipe")
    XCTAssertEqual(alice.status, 0, alice.stderr)
    XCTAssertEqual(bob.status, 0, bob.stderr)
    XCTAssertTrue(String(decoding: alice.stdout, as: UTF8.self).hasSuffix("bob: over the pipe\n"))
    XCTAssertTrue(String(decoding: bob.stdout, as: UTF8.self).hasSuffix("alice: hello through socat as a command\n"))
  }

  func testScriptedWrongKeyFailsBothWithStatusOne() throws {
    listeningPort = try ToolRunner.freeLoopbackPort()
    let (alice, bob) = try scriptedPair(
      bob: ["-n", "bob", "-k", "k.key", "--once", "listen", String(listeningPort)], bobInput: Data("secret\n".utf8),
      alice: ["-n", "alice", "-k", "other.key", "connect", "127.0.0.1", String(listeningPort)],
      aliceInput: Data("secret too\n".utf8))
    XCTAssertEqual(alice.status, 1, alice.stderr)
    XCTAssertEqual(bob.status, 1, bob.stderr)
    // Bob finds that alice's response does not verify; alice learns only that bob refused her.
    XCTAssertTrue(alice.stderr.contains("sc-handshake: error: rejected by the peer"), alice.stderr)
    XCTAssertTrue(alice.stderr.contains("sc-chat: error: not connected to 127.0.0.1 port"), alice.stderr)
    XCTAssertTrue(bob.stderr.contains("authentication failed"), bob.stderr)
    XCTAssertEqual(alice.stdout.count + bob.stdout.count, 0, "nothing is shown from a peer that did not authenticate")
  }

  func testMissingValuesWithoutATerminalAreUsageErrors() throws {
    let cases: [([String], String)] = [
      (["-k", "k.key", "listen", "7000"], "no name (-n NAME) given"),  // no -n
      (["-n", "alice", "-k", "k.key", "listen"], "no port"),
      (["-n", "alice", "-k", "k.key", "connect", "127.0.0.1"], "no port"),
      (["-n", "alice", "-k", "k.key", "connect"], "no host"),
      (["-n", "alice", "-k", "k.key"], "say listen, connect, pipe or peers"),
      (["-n", "alice", "-k", "k.key", "dance"], "unknown command"),
      (["-n", "alice", "-k", "k.key", "--frobnicate", "listen", "7000"], "unknown option --frobnicate"),
      (["-n", "al ice", "-k", "k.key", "listen", "7000"], "a name is"),
      (["-n", "alice", "-k", "k.key", "listen", "70000"], "port is a number"),
      (["-n", "alice", "-k", "k.key", "connect", "host,fork", "7000"], "a host is"),
      (["-n", "alice", "-k", "k.key", "pipe", "sideways", "cat"], "the role is"),
      (["-n", "alice", "-k", "k.key", "--log", "x.log", "listen", "7000"], "--log and --log-key go together"),
      (["-n", "alice", "listen", "7000"], "no identity at"),
      (
        ["-n", "alice", "-k", "k.key", "--checkpoints-to", "c.txt", "listen", "7000"],
        "--checkpoints-to goes with --log"
      ),
      (
        [
          "-n", "alice", "-k", "k.key", "--log", "x.log", "--log-key", "k.key", "--checkpoints-to", "c.txt", "listen",
          "7000",
        ],
        "--checkpoints-to is for a public log"
      ),
    ]
    for (arguments, expected) in cases {
      let result = try chat(arguments)
      XCTAssertEqual(result.status, 2, "\(arguments): \(result.stderr)")
      XCTAssertTrue(result.stderr.hasPrefix("sc-chat: error: "), "\(arguments): \(result.stderr)")
      XCTAssertTrue(result.stderr.contains(expected), "\(arguments): \(result.stderr)")
      XCTAssertEqual(result.stdout.count, 0)
    }
    XCTAssertEqual((try? FileManager.default.contentsOfDirectory(atPath: runtimeDirectory("alice"))) ?? ["?"], [])
  }

  func testConnectionRefusedIsAnIOError() throws {
    let port = try ToolRunner.freeLoopbackPort()  // nothing listens there
    let result = try chat(["-n", "alice", "-k", "k.key", "connect", "127.0.0.1", String(port)])
    XCTAssertEqual(result.status, 2, result.stderr)
    XCTAssertTrue(result.stderr.contains("cannot connect to 127.0.0.1 port \(port)"), result.stderr)
    XCTAssertTrue(result.stderr.contains("port \(port): connection refused\n"), result.stderr)
    // socat's own words name the system call and its arguments: the user is not shown them.
    XCTAssertFalse(result.stderr.contains("AF="), result.stderr)
    XCTAssertEqual((try? FileManager.default.contentsOfDirectory(atPath: runtimeDirectory("alice"))) ?? ["?"], [])
  }

  /// Issue 13: "waiting for a peer" used to be said before socat had bound the port, so a port
  /// in use read as "waiting", then "bind(5, {AF=2 0.0.0.0:7777}, 16): Address already in use".
  func testAPortInUseIsReportedWithoutWaitingAndInPlainWords() throws {
    let taken = try Loopback.listeningSocket(backlog: 1)
    defer { close(taken.fd) }
    let port = String(UInt16(bigEndian: taken.address.sin_port))
    let result = try chat(["-n", "bob", "-k", "k.key", "-b", "127.0.0.1", "listen", port], timeout: 10)
    XCTAssertEqual(result.status, 2, result.stderr)
    XCTAssertEqual(result.stderr, "sc-chat: error: cannot listen on port \(port): address already in use\n")
    let unknown = try chat(["-n", "alice", "-k", "k.key", "connect", "nonexistent.invalid", "7777"], timeout: 20)
    XCTAssertEqual(unknown.status, 2, unknown.stderr)
    XCTAssertTrue(
      unknown.stderr.hasPrefix("sc-chat: error: cannot connect to nonexistent.invalid port 7777: unknown host"),
      unknown.stderr)
    XCTAssertFalse(unknown.stderr.contains("getaddrinfo"), unknown.stderr)
  }

  /// Issue 13, defect 2: a key file that cannot be used is reported before anything is dialled,
  /// so the peer's listener sees no connection at all (it used to see a failed handshake and end).
  func testAnUnusableKeyFileIsRefusedBeforeDialling() throws {
    let listener = try Loopback.listeningSocket(backlog: 4)
    defer { close(listener.fd) }
    let port = String(UInt16(bigEndian: listener.address.sin_port))
    XCTAssertTrue(FileManager.default.createFile(atPath: path("loose.key"), contents: Data("x".utf8)))
    for (key, words) in [("/nonexistent.key", "/nonexistent.key"), (path("loose.key"), path("loose.key"))] {
      let result = try chat(["-n", "alice", "-k", key, "connect", "127.0.0.1", port])
      XCTAssertEqual(result.status, 2, result.stderr)
      XCTAssertTrue(result.stderr.hasPrefix("sc-chat: error: "), result.stderr)
      XCTAssertTrue(result.stderr.contains(words), result.stderr)
    }
    // Nobody knocked: the listening socket has no connection waiting.
    var pending = pollfd(fd: listener.fd, events: Int16(POLLIN), revents: 0)
    XCTAssertEqual(poll(&pending, 1, 200), 0, "a connection was made")
  }

  /// Issue 13, defect 1: a log that cannot take the session's entries is found before anything is
  /// dialled (it used to make every session fail after its handshake, and the connecting side
  /// reconnect for ever): a missing directory or a key of the wrong type is status 2, a log that
  /// no longer matches its key status 1, and the peer sees no connection at all. A listener with
  /// such a log ends the same way, without listening.
  func testAnUnusableLogIsRefusedBeforeDiallingOrListening() throws {
    let listener = try Loopback.listeningSocket(backlog: 4)
    defer { close(listener.fd) }
    let port = String(UInt16(bigEndian: listener.address.sin_port))
    let made = try ToolRunner.run("sc-keygen", ["--log", "-o", path("log.seal"), "--verify-key", path("log.verify")])
    XCTAssertEqual(made.status, 0, made.stderr)
    // A log whose key has sealed two entries, emptied afterwards: it no longer matches its key.
    let sessions = path("sessions")
    try FileManager.default.createDirectory(atPath: sessions, withIntermediateDirectories: false)
    let keys = FrameKeys(encryption: .random(count: 32), authentication: .random(count: 32))
    try ToolRunner.writeSessionPair(in: sessions, aliceToBob: keys, bobToAlice: keys)
    let logged = try ToolRunner.run(
      "sc-seal", ["-s", sessions + "/alice.session", "--log", path("emptied.log"), "--log-key", path("log.seal")],
      stdin: .bytes(Data("one line\n".utf8)))
    XCTAssertEqual(logged.status, 0, logged.stderr)
    XCTAssertEqual(truncate(path("emptied.log"), 0), 0)
    let cases: [(log: String, key: String, status: Int32, words: String)] = [
      (path("missing/chat.log"), path("log.seal"), 2, path("missing/chat.log")),
      (path("chat.log"), path("log.verify"), 2, "log-seal key is needed"),
      (path("chat.log"), path("nonexistent.seal"), 2, path("nonexistent.seal")),
      (path("emptied.log"), path("log.seal"), 1, "does not match its sealing key"),
    ]
    for (log, key, status, words) in cases {
      for command in [["connect", "127.0.0.1", port], ["--once", "listen", port]] {
        let result = try chat(["-n", "alice", "-k", "k.key", "--log", log, "--log-key", key] + command, timeout: 10)
        XCTAssertEqual(result.status, status, "\(command) with \(log): \(result.stderr)")
        XCTAssertTrue(result.stderr.hasPrefix("sc-chat: error: "), result.stderr)
        XCTAssertTrue(result.stderr.contains(words), result.stderr)
        XCTAssertFalse(result.stderr.contains("waiting for a peer"), result.stderr)
      }
    }
    // Nobody knocked: the listening socket has no connection waiting.
    var pending = pollfd(fd: listener.fd, events: Int16(POLLIN), revents: 0)
    XCTAssertEqual(poll(&pending, 1, 200), 0, "a connection was made")
  }

  /// Issue 13: a listener keeps serving through a stray connection and a peer with a wrong key,
  /// reports each on one line, and after 3 failed attempts in a row from one address closes that
  /// address's connections unanswered for 10 s (said once, with how many were closed), then
  /// chats with the right peer.
  func testAListenerRateLimitsFailedAttemptsFromOneAddressAndThenChats() throws {
    let port = try ToolRunner.freeLoopbackPort()
    let script = #"""
      set -u
      chat=$1 port=$2
      listening() { grep -q ":$(printf '%04X' "$port") 00000000:0000 0A" /proc/net/tcp; }
      wait_for() { local i; for i in $(seq 300); do "$@" && return 0; sleep 0.05; done; return 1; }
      failures() { [ "$(grep -c 'did not authenticate' bob.err)" -ge "$1" ]; }
      stray() { printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 socat -t 1 - "TCP:127.0.0.1:$port" >/dev/null 2>&1; }
      mkfifo bob.in
      sc-keygen --log -o bob.seal --verify-key bob.verify 2>/dev/null
      "$chat" -n bob -k k.key -b 127.0.0.1 --log bob.log --log-key bob.seal listen "$port" <bob.in >bob.out 2>bob.err &
      bob=$!
      exec {hold}>bob.in
      wait_for listening || echo "never listened"
      stray
      wait_for failures 1 && wait_for listening
      "$chat" -n mallory -k other.key connect 127.0.0.1 "$port" </dev/null >/dev/null 2>mallory.err
      echo "mallory: $?"
      wait_for failures 2 && wait_for listening
      stray
      wait_for failures 3 && wait_for grep -q 'closed unanswered for' bob.err && wait_for listening
      stray
      wait_for listening
      sleep 10.5
      printf 'hello bob\n' | "$chat" -n alice -k k.key connect 127.0.0.1 "$port" >alice.out 2>alice.err
      echo "alice: $?"
      exec {hold}>&-
      wait "$bob"
      echo "bob: $?"
      sc-logcheck -k bob.verify bob.log
      echo "logcheck: $?"
      """#
    let result = try ToolRunner.runExecutable(
      "/bin/bash", ["-c", script, "limits", Self.chatScript, String(port)], stdin: .none,
      environment: environment("bob"), directory: directory, timeout: 60)
    let output = String(decoding: result.stdout, as: UTF8.self)
    let bobErr = (try? String(contentsOfFile: path("bob.err"), encoding: .utf8)) ?? ""
    let bobOut = (try? String(contentsOfFile: path("bob.out"), encoding: .utf8)) ?? ""
    XCTAssertTrue(output.contains("mallory: 1\n"), output + result.stderr)
    XCTAssertTrue(output.contains("alice: 0\n"), output + result.stderr)
    XCTAssertTrue(output.contains("bob: 0\n"), output + bobErr)
    XCTAssertEqual(bobErr.components(separatedBy: "did not authenticate").count - 1, 3, bobErr)
    XCTAssertTrue(
      bobErr.contains(
        "sc-chat: 3 failed attempts in a row from 127.0.0.1: its connections are closed unanswered for 10 s\n"),
      bobErr)
    XCTAssertTrue(bobErr.contains("sc-chat: 1 connection from 127.0.0.1 closed unanswered meanwhile\n"), bobErr)
    XCTAssertTrue(bobErr.contains("connected to alice (127.0.0.1:"), bobErr)
    XCTAssertTrue(bobOut.contains("] alice: hello bob\n"), bobOut)
    // Each failed attempt is an entry of bob's log, with where it came from; the log verifies.
    XCTAssertTrue(output.contains("logcheck: 0\n"), output + result.stderr)
    let log = (try? String(contentsOfFile: path("bob.log"), encoding: .utf8)) ?? ""
    let refused = log.split(separator: "\n").filter { $0.contains(" refused - - - from 127.0.0.1:") }
    XCTAssertEqual(refused.count, 3, log)
    XCTAssertEqual(refused.filter { $0.contains(": authentication failed") }.count, 1, log)
  }

  /// Issue 13, defect 7: after `kill -9` of sc-chat (no trap runs), its socat used to keep the
  /// port and its private directory stayed; a later listen failed with "Address already in use".
  /// Now the children die with it, and the next sc-chat removes the directory.
  func testAKilledListenerLeavesNeitherThePortNorItsDirectory() throws {
    let port = try ToolRunner.freeLoopbackPort()
    let script = #"""
      set -u
      port=$2
      listening() { grep -q ":$(printf '%04X' "$port") 00000000:0000 0A" /proc/net/tcp; }
      wait_for() { local i; for i in $(seq 100); do "$@" && return 0; sleep 0.05; done; return 1; }
      "$1" -n bob -k k.key listen "$port" </dev/null >first.out 2>first.err &
      first=$!
      wait_for listening || { echo "never listened"; exit 1; }
      kill -KILL "$first"
      wait "$first" 2>/dev/null
      if wait_for eval '! listening'; then echo "port free"; fi
      ls run-bob
      "$1" -n bob -k k.key listen "$port" </dev/null >second.out 2>second.err &
      second=$!
      if wait_for grep -q 'waiting for a peer' second.err && wait_for listening; then echo "listening again"; fi
      sleep 0.3
      echo "left: $(ls run-bob | wc -l)"
      kill -TERM "$second"
      wait "$second"
      cat second.err
      """#
    let result = try ToolRunner.runExecutable(
      "/bin/bash", ["-c", script, "killed", Self.chatScript, String(port)], stdin: .none,
      environment: environment("bob"), directory: directory, timeout: 30)
    let output = String(decoding: result.stdout, as: UTF8.self)
    XCTAssertTrue(output.contains("port free"), output + result.stderr)
    XCTAssertTrue(output.contains("listening again"), output + result.stderr)
    XCTAssertTrue(output.contains("left: 1\n"), "only the second chat's directory: " + output)
    XCTAssertFalse(output.contains("Address already in use"), output)
  }

  /// Issue 13, defect 4: the inbox.sh example of sc-chat(1), taken from the page as it is
  /// printed there, serves a sender: its files are made in inbox/, for this user only.
  func testTheInboxExampleOfTheManPageWorksAsWritten() throws {
    let page = try String(contentsOfFile: Self.repository + "/man/sc-chat.1", encoding: .utf8)
    let lines = page.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    let start = try XCTUnwrap(lines.firstIndex(of: "$ cat inbox.sh"))
    let end = try XCTUnwrap(lines[start...].firstIndex { $0.hasPrefix("$ socat TCP-LISTEN:7777") })
    let script = lines[(start + 1)..<end].joined(separator: "\n") + "\n"
    XCTAssertFalse(script.contains("\\"), "the example has no roff escapes to undo")
    try Data(script.utf8).write(to: URL(fileURLWithPath: path("inbox.sh")))
    XCTAssertEqual(chmod(path("inbox.sh"), 0o755), 0)
    XCTAssertEqual(try ToolRunner.run("sc-keygen", ["-o", path("inbox.key")]).status, 0)
    let port = try ToolRunner.freeLoopbackPort()
    let serve = #"""
      set -u
      umask 022 # the script must not depend on a careful umask
      socat TCP-LISTEN:"$2",bind=127.0.0.1,reuseaddr,fork EXEC:./inbox.sh 2>socat.err &
      server=$!
      for _ in $(seq 100); do
        grep -q ":$(printf '%04X' "$2") 00000000:0000 0A" /proc/net/tcp && break
        sleep 0.05
      done
      printf 'hello inbox\nsecond line\n' | "$1" -n alice -k inbox.key connect 127.0.0.1 "$2"
      echo "sender-status $?"
      sleep 0.5
      kill "$server"
      wait "$server" 2>/dev/null
      stat -c '%a %n' inbox inbox/*
      cat inbox/*.txt
      """#
    let result = try ToolRunner.runExecutable(
      "/bin/bash", ["-c", serve, "inbox", Self.chatScript, String(port)], stdin: .none,
      environment: environment("alice"), directory: directory, timeout: 40)
    let output = String(decoding: result.stdout, as: UTF8.self)
    XCTAssertTrue(output.contains("sender-status 0"), output + result.stderr)
    XCTAssertTrue(output.contains("700 inbox\n"), output)
    let files = output.split(separator: "\n").filter { $0.contains(" inbox/") }
    XCTAssertEqual(files.count, 2, output)  // the .code and the .txt of the one connection
    XCTAssertTrue(files.allSatisfy { $0.hasPrefix("600 ") }, output)
    XCTAssertTrue(output.contains("m 1 hello inbox\nm 2 second line\n"), output)
  }

  /// A peers file holds at most 64 entries (FORMATS.md §10.2): `peers add` refuses a 65th,
  /// which would make the file unusable for listening.
  func testPeersAddRefusesASixtyFifthEntry() throws {
    let book = path("full.peers")
    let entries = (1...64).map { "p\($0) - - keys/p\($0).key p\($0)\n" }.joined()
    XCTAssertTrue(
      FileManager.default.createFile(
        atPath: book, contents: Data(("securechat-peers-v1\n" + entries).utf8), attributes: [.posixPermissions: 0o600]))
    let result = try chat(["-p", book, "peers", "add", "p65", "-", "-", path("k.key")])
    XCTAssertEqual(result.status, 2, result.stderr)
    XCTAssertTrue(result.stderr.contains("already holds 64 peers"), result.stderr)
    XCTAssertFalse(try String(contentsOfFile: book, encoding: .utf8).contains("p65"))
  }

  // MARK: - Receipts, the address book, several peers, a cut link

  /// The line numbers in "sc-chat: delivered N" lines, in the order they came.
  private func deliveredNumbers(_ stderr: String) -> [Int] {
    stderr.split(separator: "\n").compactMap { line in
      line.hasPrefix("sc-chat: delivered ") ? Int(line.dropFirst("sc-chat: delivered ".count)) : nil
    }
  }

  private func peerLines(_ output: Data, from sender: String) -> [String] {
    String(decoding: output, as: UTF8.self).split(separator: "\n").compactMap { line in
      let afterTime = line.drop { $0 != "]" }.dropFirst(2)
      return afterTime.hasPrefix(sender + ": ") ? String(afterTime.dropFirst(sender.count + 2)) : nil
    }
  }

  func testLongLinesArriveWholeOrInPiecesOfAtMost16000Characters() throws {
    listeningPort = try ToolRunner.freeLoopbackPort()
    extraEnvironment = ["LC_ALL": "C"]  // the user's locale does not decide where a line is cut
    let medium = "medium " + String(repeating: "é", count: 3000)  // through a file, one message
    // Three chat lines of 16,000 + 16,000 + 8,000 characters, cut between characters, not bytes.
    let long = String(repeating: "aé", count: 20_000)
    let (alice, bob) = try scriptedPair(
      bob: ["-n", "bob", "-k", "k.key", "listen", String(listeningPort)], bobInput: Data((medium + "\n").utf8),
      alice: ["-n", "alice", "-k", "k.key", "connect", "127.0.0.1", String(listeningPort)],
      aliceInput: Data((medium + "\n" + long + "\nafter\n").utf8),
      bobHoldsUntil: "alice: after", aliceHoldsUntil: "bob: medium")
    XCTAssertEqual(alice.status, 0, alice.stderr)
    XCTAssertEqual(bob.status, 0, bob.stderr)
    XCTAssertEqual(
      peerLines(bob.stdout, from: "alice"),
      [
        medium, String(repeating: "aé", count: 8_000), String(repeating: "aé", count: 8_000),
        String(repeating: "aé", count: 4_000), "after",
      ])
    XCTAssertEqual(peerLines(alice.stdout, from: "bob"), [medium])
    // "delivered N" counts input lines: the long one once, when all its pieces have receipts
    // (issue 13, defect 3: it said 1 to 5).
    XCTAssertEqual(deliveredNumbers(alice.stderr), [1, 2, 3])
  }

  func testEveryLineGetsExactlyOneReceipt() throws {
    listeningPort = try ToolRunner.freeLoopbackPort()
    let aliceLines = (1...300).map { "alice line \($0)" }
    let (alice, bob) = try scriptedPair(
      bob: ["-n", "bob", "-k", "k.key", "listen", String(listeningPort)], bobInput: Data("one from bob\n".utf8),
      alice: ["-n", "alice", "-k", "k.key", "connect", "127.0.0.1", String(listeningPort)],
      aliceInput: Data((aliceLines.joined(separator: "\n") + "\n").utf8),
      bobHoldsUntil: "alice: alice line 300", aliceHoldsUntil: "bob: one from bob")
    XCTAssertEqual(alice.status, 0, alice.stderr)
    XCTAssertEqual(bob.status, 0, bob.stderr)
    XCTAssertEqual(peerLines(bob.stdout, from: "alice"), aliceLines)
    XCTAssertEqual(deliveredNumbers(alice.stderr), Array(1...300), "one receipt per line, in order")
    XCTAssertEqual(deliveredNumbers(bob.stderr), [1])
  }

  func testAPeerThatNeverReceiptsLeavesTheLinesUndelivered() throws {
    // A bare sc-handshake + sc-open pipeline on the other end shows the lines but sends no
    // receipt: sc-chat must not call them delivered. It gives up when the peer ends.
    listeningPort = try ToolRunner.freeLoopbackPort()
    let script = """
      exec socat TCP-LISTEN:\(listeningPort),reuseaddr SYSTEM:'sc-handshake --responder -k k.key -n bob \
      -o bob.session 2>/dev/null || exit 1; { sleep 1; sc-seal -s bob.session </dev/null; } & \
      sc-open -s bob.session >bob.shown 2>/dev/null; wait'
      """
    let (environment, directory) = (environment("bob"), directory)
    let done = DispatchSemaphore(value: 0)
    Thread {
      _ = try? ToolRunner.runExecutable(
        "/bin/bash", ["-c", script], stdin: .none, environment: environment, directory: directory, timeout: 20)
      done.signal()
    }.start()
    defer { _ = done.wait(timeout: .now() + 20) }
    waitUntilBobListens()
    let alice = try chat(
      ["-n", "alice", "-k", "k.key", "connect", "127.0.0.1", String(listeningPort)],
      stdin: .bytes(Data("first\nsecond\n".utf8)))
    XCTAssertEqual(alice.status, 1, alice.stderr)
    XCTAssertEqual(deliveredNumbers(alice.stderr), [])
    XCTAssertTrue(alice.stderr.contains("2 lines were not delivered"), alice.stderr)
  }

  func testAddressBookAddListConnectByNameAndItsErrors() throws {
    listeningPort = try ToolRunner.freeLoopbackPort()
    let port = String(listeningPort)
    for key in ["bob.key", "carol.key"] {
      XCTAssertEqual(try ToolRunner.run("sc-keygen", ["-o", path(key)]).status, 0)
    }
    // The default location: $HOME/.config/securechat/peers (XDG_CONFIG_HOME unset).
    let peersPath = path(".config/securechat/peers")
    let empty = try chat(["peers"])
    XCTAssertEqual(empty.status, 0, empty.stderr)
    XCTAssertTrue(empty.stderr.contains("no peers in \(peersPath)"), empty.stderr)

    var result = try chat(["peers", "add", "bob", "127.0.0.1", port, "bob.key"])
    XCTAssertEqual(result.status, 0, result.stderr)
    result = try chat(["peers", "add", "carol", "-", "-", path("carol.key"), "carol.c"])
    XCTAssertEqual(result.status, 0, result.stderr)
    let attributes = try FileManager.default.attributesOfItem(atPath: peersPath)
    XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o600)
    let text = try String(contentsOfFile: peersPath, encoding: .utf8)
    XCTAssertEqual(
      text,
      "securechat-peers-v1\nbob 127.0.0.1 \(port) \(path("bob.key")) bob\ncarol - - \(path("carol.key")) carol.c\n")

    let refusals: [([String], String)] = [
      (["peers", "add", "bob", "127.0.0.1", port, "carol.key"], "already a peer 'bob'"),
      (["peers", "add", "robert", "127.0.0.1", port, "bob.key"], "already has this key"),
      (["peers", "add", "dave", "127.0.0.1", port, "no-such.key"], "not a usable key file"),
      (["peers", "add", "dave", "127.0.0.1", "-", "k.key"], "HOST and PORT are both -"),
      (["peers", "add", "-dave", "127.0.0.1", port, "k.key"], "a peer label is"),
      (["peers", "add", "dave", "host,fork", port, "k.key"], "a host is"),
      (["peers", "remove", "zed"], "no peer 'zed'"),
      (["-n", "alice", "connect", "zed"], "no port given, and no peer 'zed' in \(peersPath)"),
      (["-n", "alice", "connect", "carol"], "peer 'carol' has no address"),
      (["-n", "alice", "-k", "k.key", "connect", "bob"], "leave out -k"),
    ]
    for (arguments, expected) in refusals {
      let refused = try chat(arguments)
      XCTAssertEqual(refused.status, 2, "\(arguments): \(refused.stderr)")
      XCTAssertTrue(refused.stderr.contains(expected), "\(arguments): \(refused.stderr)")
    }
    XCTAssertEqual(try String(contentsOfFile: peersPath, encoding: .utf8), text, "a refused change changes nothing")

    let listing = try chat(["peers"])
    XCTAssertEqual(listing.status, 0, listing.stderr)
    let rows = String(decoding: listing.stdout, as: UTF8.self).split(separator: "\n").map {
      $0.split(separator: " ").map(String.init)
    }
    XCTAssertEqual(rows.first, ["PEER", "HOST", "PORT", "NAME", "KEY"])
    XCTAssertEqual(rows.dropFirst().first, ["bob", "127.0.0.1", port, "bob", path("bob.key")])
    XCTAssertEqual(rows.dropFirst(2).first, ["carol", "-", "-", "carol.c", path("carol.key")])

    // Connect by name: host, port and key come from the entry, and bob must be "bob".
    let (alice, bob) = try scriptedPair(
      bob: ["-n", "bob", "-k", "bob.key", "listen", port], bobInput: Data("hi alice\n".utf8),
      alice: ["-n", "alice", "connect", "bob"], aliceInput: Data("hello bob, found you by name\n".utf8),
      bobHoldsUntil: "alice: hello bob", aliceHoldsUntil: "bob: hi alice")
    XCTAssertEqual(alice.status, 0, alice.stderr)
    XCTAssertEqual(bob.status, 0, bob.stderr)
    XCTAssertTrue(alice.stderr.contains("connected to bob (127.0.0.1 port \(port)) (peers entry 'bob')"), alice.stderr)
    XCTAssertEqual(peerLines(bob.stdout, from: "alice"), ["hello bob, found you by name"])

    // An entry whose key verifies but whose name is not the one the peer authenticates as.
    result = try chat(["peers", "remove", "bob"])
    XCTAssertEqual(result.status, 0, result.stderr)
    result = try chat(["peers", "add", "bob", "127.0.0.1", port, "bob.key", "robert"])
    XCTAssertEqual(result.status, 0, result.stderr)
    let (impostor, bobAgain) = try scriptedPair(
      bob: ["-n", "bob", "-k", "bob.key", "--no-reconnect", "--once", "listen", port], bobInput: Data("secret\n".utf8),
      alice: ["-n", "alice", "connect", "bob"], aliceInput: Data("for robert only\n".utf8))
    XCTAssertEqual(impostor.status, 1, impostor.stderr)
    XCTAssertTrue(impostor.stderr.contains("authentication failed"), impostor.stderr)
    XCTAssertEqual(impostor.stdout.count, 0)
    XCTAssertEqual(peerLines(bobAgain.stdout, from: "alice"), [], "nothing reached the wrong peer")

    // Loose permissions: refused, with the fix.
    XCTAssertEqual(chmod(peersPath, 0o644), 0)
    for arguments in [["peers"], ["-n", "alice", "connect", "bob"]] {
      let loose = try chat(arguments)
      XCTAssertEqual(loose.status, 2, loose.stderr)
      XCTAssertTrue(loose.stderr.contains("peers file \(peersPath) is open to others (mode 0644)"), loose.stderr)
      XCTAssertTrue(loose.stderr.contains("chmod 600 \(peersPath)"), loose.stderr)
    }
    XCTAssertEqual(chmod(peersPath, 0o600), 0)
    XCTAssertEqual(try chat(["peers", "remove", "carol"]).status, 0)
    XCTAssertFalse(try String(contentsOfFile: peersPath, encoding: .utf8).contains("carol"))
  }

  func testOneListenerServesEachPeerOfItsPeersFileWithItsOwnKey() throws {
    listeningPort = try ToolRunner.freeLoopbackPort()
    let port = String(listeningPort)
    var book = "securechat-peers-v1\n# bob's friends\n"
    for friend in ["alice", "carol", "dave"] {
      XCTAssertEqual(try ToolRunner.run("sc-keygen", ["-o", path(friend + ".key")]).status, 0)
      book += "\(friend) - - \(friend).key \(friend)\n"
    }
    let bookPath = path("bob.peers")
    XCTAssertTrue(
      FileManager.default.createFile(
        atPath: bookPath, contents: Data(book.utf8), attributes: [.posixPermissions: 0o600]))
    for friend in ["alice", "carol", "dave"] {
      let (visitor, bob) = try scriptedPair(
        bob: ["-n", "bob", "-p", bookPath, "listen", port], bobInput: Data("welcome\n".utf8),
        alice: ["-n", friend, "-k", friend + ".key", "connect", "127.0.0.1", port],
        aliceInput: Data("\(friend) here\n".utf8), bobHoldsUntil: "\(friend): \(friend) here",
        aliceHoldsUntil: "bob: welcome")
      XCTAssertEqual(visitor.status, 0, visitor.stderr)
      XCTAssertEqual(bob.status, 0, bob.stderr)
      XCTAssertTrue(bob.stderr.contains("connected to \(friend) (127.0.0.1:"), bob.stderr)
      XCTAssertTrue(bob.stderr.contains("(peers entry '\(friend)')"), bob.stderr)
      XCTAssertEqual(peerLines(bob.stdout, from: friend), ["\(friend) here"])
    }
    // A key the book does not hold, and a key of the book used under another name.
    XCTAssertEqual(try ToolRunner.run("sc-keygen", ["-o", path("eve.key")]).status, 0)
    for (visitor, key) in [("eve", "eve.key"), ("mallory", "carol.key")] {
      let (stranger, bob) = try scriptedPair(
        bob: ["-n", "bob", "-p", bookPath, "--once", "listen", port], bobInput: Data("welcome\n".utf8),
        alice: ["-n", visitor, "-k", key, "connect", "127.0.0.1", port], aliceInput: Data("let me in\n".utf8))
      XCTAssertEqual(stranger.status, 1, "\(visitor): \(stranger.stderr)")
      XCTAssertEqual(bob.status, 1, "\(visitor): \(bob.stderr)")
      XCTAssertTrue(bob.stderr.contains("authentication failed"), bob.stderr)
      XCTAssertEqual(stranger.stdout.count + bob.stdout.count, 0)
    }
  }

  func testAListenerWithAPeersFileTakesTheSamePeerBackAfterACut() throws {
    listeningPort = try ToolRunner.freeLoopbackPort()
    var book = "securechat-peers-v1\n"
    for friend in ["alice", "carol"] {
      XCTAssertEqual(try ToolRunner.run("sc-keygen", ["-o", path(friend + ".key")]).status, 0)
      book += "\(friend) - - \(friend).key \(friend)\n"
    }
    let bookPath = path("bob.peers")
    XCTAssertTrue(
      FileManager.default.createFile(
        atPath: bookPath, contents: Data(book.utf8), attributes: [.posixPermissions: 0o600]))
    let relay = try CuttingRelay(target: listeningPort, cutAfter: 6_000, silence: 0.2)
    defer { relay.stop() }
    let lines = (1...200).map { "carol's line \($0)" }
    let (carol, bob) = try scriptedPair(
      bob: ["-n", "bob", "-p", bookPath, "listen", String(listeningPort)], bobInput: Data(),
      alice: ["-n", "carol", "-k", "carol.key", "connect", "127.0.0.1", String(relay.port)],
      aliceInput: Data((lines.joined(separator: "\n") + "\n").utf8), bobHoldsUntil: "carol: carol's line 200")
    XCTAssertEqual(relay.counts.cut, 1)
    XCTAssertEqual(carol.status, 0, carol.stderr)
    XCTAssertEqual(bob.status, 0, bob.stderr)
    XCTAssertEqual(occurrences(of: "(peers entry 'carol')", in: bob.stderr), 2, bob.stderr)
    XCTAssertTrue(bob.stderr.contains("waiting for carol on port"), bob.stderr)
    XCTAssertEqual(peerLines(bob.stdout, from: "carol"), lines)
    XCTAssertEqual(deliveredNumbers(carol.stderr).sorted(), Array(1...200))
  }

  func testACutInTheMiddleOfAThousandLinesLosesNothingAndShowsNothingTwice() throws {
    listeningPort = try ToolRunner.freeLoopbackPort()
    // About 100 bytes a line on the wire: the link goes silent after some 300 lines, drops what
    // both sides send for 0.3 s (lines one way, receipts the other), then breaks.
    let relay = try CuttingRelay(target: listeningPort, cutAfter: 30_000, silence: 0.3)
    defer { relay.stop() }
    let aliceLines = (1...1000).map { "line \($0) of a thousand" }
    let (alice, bob) = try scriptedPair(
      bob: ["-n", "bob", "-k", "k.key", "listen", String(listeningPort)], bobInput: Data(),
      alice: ["-n", "alice", "-k", "k.key", "connect", "127.0.0.1", String(relay.port)],
      aliceInput: Data((aliceLines.joined(separator: "\n") + "\n").utf8),
      bobHoldsUntil: "alice: line 1000 of a thousand")
    XCTAssertEqual(relay.counts.cut, 1, "the relay cut the first connection")
    XCTAssertEqual(relay.counts.accepted, 2, "alice reconnected once")
    XCTAssertEqual(alice.status, 0, alice.stderr)
    XCTAssertEqual(bob.status, 0, bob.stderr)
    XCTAssertTrue(alice.stderr.contains("the chat with bob broke off"), alice.stderr)
    XCTAssertTrue(alice.stderr.contains("re-sending "), alice.stderr)
    XCTAssertTrue(bob.stderr.contains("waiting for alice on port \(listeningPort)"), bob.stderr)
    XCTAssertEqual(occurrences(of: "verification code: ", in: bob.stderr), 2)
    XCTAssertEqual(peerLines(bob.stdout, from: "alice"), aliceLines, "every line once, in order")
    XCTAssertEqual(deliveredNumbers(alice.stderr).sorted(), Array(1...1000), "every line receipted, once")
  }
}
