import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// bin/sc-inbox, the listener as a service (sc-inbox(1)), run without systemd: the same command
/// line as sc-inbox@.service under `socat TCP-LISTEN:PORT,bind=127.0.0.1,fork EXEC:…` on
/// 127.0.0.1. 50 peers of one peers file send at once (sc-handshake, sc-seal -s and
/// sc-open -s --delivered, the chat lines of PROTOCOL.md §10), among them a peer with a key of
/// no entry and two stray connections; then an ordinary `sc-chat connect` in script mode.
/// Every process is started by the driver below and killed by its PID; each sender has a bound.
final class InboxTests: XCTestCase {
  static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path
  private var directory = ""

  override func setUpWithError() throws {
    try super.setUpWithError()
    var template = Array((NSTemporaryDirectory() + "/sc-inbox-test-XXXXXX").utf8CString)
    guard let made = mkdtemp(&template) else { throw ToolRunnerError(description: "mkdtemp failed") }
    directory = String(cString: made)
  }

  override func tearDownWithError() throws {
    if !directory.isEmpty { try? FileManager.default.removeItem(atPath: directory) }
    try super.tearDownWithError()
  }

  /// $1 sc-inbox, $2 sc-chat, $3 port, $4 peers, $5 lines each. Prints "status NAME N" lines.
  static let driver = #"""
    set -u
    inbox_script=$1 chat=$2 port=$3 peers=$4 lines=$5
    export port # for send, run by bash -c
    mkdir -m 700 inbox keys runtime
    printf 'securechat-peers-v1\n' >peers
    chmod 600 peers
    for i in $(seq -w 1 "$peers"); do
      sc-keygen -o "keys/p$i.key" 2>/dev/null || { echo "sc-keygen failed"; exit 3; }
      printf 'p%s - - keys/p%s.key peer%s\n' "$i" "$i" "$i" >>peers
    done
    sc-keygen -o keys/wrong.key 2>/dev/null
    listening() { grep -q " 0100007F:$(printf '%04X' "$1") 00000000:0000 0A " /proc/net/tcp; }
    # -t 10: when a sender has ended its direction, socat waits for our final frame (sc-inbox(1)).
    socat -t 10 TCP-LISTEN:"$port",bind=127.0.0.1,fork,reuseaddr \
      EXEC:"$inbox_script -n inbox -p $PWD/peers $PWD/inbox" 2>server.err &
    server=$!
    trap 'kill "$server" 2>/dev/null' EXIT
    for _ in $(seq 100); do listening "$port" && break; sleep 0.05; done
    listening "$port" || { echo "socat is not listening on $port"; exit 3; }

    # send I LINES KEY: peerI sends its hello and LINES chat lines; what it was told is delivered
    # (the message numbers of the receipts) is in delivered.I.
    send() {
      local d
      d=$(mktemp -d "$PWD/runtime/send.XXXXXX") || return 2
      coproc NET { exec socat - TCP:127.0.0.1:"$port"; }
      exec {IN}<&"${NET[0]}" {OUT}>&"${NET[1]}"
      sc-handshake --initiator -k "$3" -n "peer$1" -o "$d/session" <&"$IN" >&"$OUT" 2>"handshake.$1" || return
      sc-open -s "$d/session" --delivered "$PWD/delivered.$1" <&"$IN" >/dev/null 2>"open.$1" &
      local opener=$!
      {
        printf 'h %08x%08x\n' "$SRANDOM" "$SRANDOM"
        for k in $(seq 1 "$2"); do
          if ((k == 2)); then printf 'm %s line %s from peer%s \e[2J\n' "$k" "$k" "$1"
          else printf 'm %s line %s from peer%s\n' "$k" "$k" "$1"; fi
        done
      } | sc-seal -s "$d/session" >&"$OUT" 2>"seal.$1"
      wait "$opener"
    }
    export -f send
    pids=()
    for i in $(seq -w 1 "$peers"); do
      (timeout 40 bash -c 'send "$@"' send "$i" "$lines" "keys/p$i.key"; echo "status peer$i $?" >"status.$i") &
      pids+=($!)
      if [ "$i" = 10 ]; then
        # A key in no entry, claiming to be peer01; a stray request; random bytes.
        (timeout 40 bash -c 'send "$@"' send wrong "$lines" keys/wrong.key; echo "status wrong $?" >status.wrong) &
        pids+=($!)
        (echo GET / HTTP/1.0 | timeout 40 socat - TCP:127.0.0.1:"$port" >/dev/null 2>&1) &
        pids+=($!)
        (head -c 5000 /dev/urandom | timeout 40 socat - TCP:127.0.0.1:"$port" >/dev/null 2>&1) &
        pids+=($!)
      fi
    done
    for pid in "${pids[@]}"; do wait "$pid"; done
    cat status.*
    # An ordinary sc-chat sender in script mode: every line receipted, status 0.
    printf 'from sc-chat one\nfrom sc-chat two\n' |
      XDG_RUNTIME_DIR=$PWD/runtime timeout 40 "$chat" -n peer02 -k keys/p02.key connect 127.0.0.1 "$port" \
        >chat.out 2>chat.err
    echo "status chat $?"
    grep -c '^sc-chat: delivered ' chat.err | sed 's/^/chat-delivered /'
    # The last sc-inbox has ended when its line is in the log (or after 10 s).
    for _ in $(seq 200); do [ "$(grep -c "^sc-inbox: " server.err)" -ge $((peers + 4)) ] && break; sleep 0.05; done
    kill "$server"
    wait "$server" 2>/dev/null
    trap - EXIT
    for i in $(seq -w 1 "$peers"); do echo "receipts peer$i $(tr '\n' ' ' <"delivered.$i" 2>/dev/null)"; done
    """#

  func testFiftyPeersAtOnceEachMessageDeliveredOnceToItsOwnFile() throws {
    let peers = 50
    let lines = 4
    let binDirectory = (try ToolRunner.path(of: "sc-open") as NSString).deletingLastPathComponent
    let port = try ToolRunner.freeLoopbackPort()
    let result = try ToolRunner.runExecutable(
      "/bin/bash",
      [
        "-c", Self.driver, "driver", Self.repository + "/bin/sc-inbox", Self.repository + "/bin/sc-chat",
        String(port), String(peers), String(lines),
      ],
      stdin: .none, environment: ["PATH": binDirectory + ":/usr/bin:/bin", "HOME": directory],
      directory: directory, timeout: 120)
    let output = String(decoding: result.stdout, as: UTF8.self)
    let log = (try? String(contentsOfFile: directory + "/server.err", encoding: .utf8)) ?? ""
    XCTAssertEqual(result.status, 0, output + result.stderr)

    // Every sender ended with status 0 and got a receipt for its hello and each line; the peer
    // with the wrong key was refused.
    for i in 1...peers {
      let peer = String(format: "peer%02d", i)
      XCTAssertTrue(output.contains("status \(peer) 0\n"), "\(peer): \(output)")
      XCTAssertTrue(
        output.contains("receipts \(peer) " + (0...lines).map(String.init).joined(separator: " ") + " \n"),
        "\(peer): \(output)")
    }
    XCTAssertTrue(output.contains("status wrong 1\n"), output)
    XCTAssertTrue(output.contains("status chat 0\n"), output + log)
    XCTAssertTrue(output.contains("chat-delivered 2\n"), output)

    // The inbox: one file per line, each once, 0600, named TIME,CONNECTION,NUMBER,ENTRY,PEER with
    // the entry and the name of the peer that sent it; nothing else (no temporary file left).
    let inbox = directory + "/inbox"
    let names = try FileManager.default.contentsOfDirectory(atPath: inbox).filter { !$0.hasPrefix(".sc-inbox") }
    var expected: [String: Int] = [:]
    for i in 1...peers {
      for k in 1...lines {
        let text =
          k == 2
          ? "line \(k) from peer\(String(format: "%02d", i)) ^[[2J" : "line \(k) from peer\(String(format: "%02d", i))"
        expected["p\(String(format: "%02d", i)),peer\(String(format: "%02d", i)): \(text)\n", default: 0] += 1
      }
    }
    expected["p02,peer02: from sc-chat one\n", default: 0] += 1
    expected["p02,peer02: from sc-chat two\n", default: 0] += 1
    var found: [String: Int] = [:]
    for name in names {
      let fields = name.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
      XCTAssertEqual(fields.count, 5, "file name \(name)")
      guard fields.count == 5 else { continue }
      XCTAssertNotNil(fields[0].range(of: #"^[0-9]{8}T[0-9]{6}\.[0-9]{6}Z$"#, options: .regularExpression), name)
      XCTAssertNotNil(fields[1].range(of: "^[0-9a-f]{16}$", options: .regularExpression), name)
      var info = stat()
      XCTAssertEqual(lstat(inbox + "/" + name, &info), 0, name)
      XCTAssertEqual(info.st_mode & 0o7777, 0o600, "mode of \(name)")
      XCTAssertEqual(info.st_mode & S_IFMT, S_IFREG, "\(name) is a regular file")
      let text = try String(contentsOfFile: inbox + "/" + name, encoding: .utf8)
      found["\(fields[3]),\(fields[4]): \(text)", default: 0] += 1
    }
    XCTAssertEqual(names.count, peers * lines + 2, "one file per line sent")
    XCTAssertEqual(found, expected, "each line once, under the name of the peer that sent it")
    XCTAssertFalse(names.contains { $0.contains("forged") || $0.hasPrefix(".tmp") }, "\(names)")

    // The log: one line per connection, the refused ones say why.
    XCTAssertEqual(log.components(separatedBy: "\(lines) messages delivered\n").count - 1, peers, log)
    XCTAssertTrue(log.contains("'peer02' (peers entry 'p02') from 127.0.0.1:"), log)
    XCTAssertTrue(log.contains("the handshake failed, nothing delivered: authentication failed"), log)
  }

  /// What sc-inbox refuses before it reads anything from the peer: status 2, one line.
  func testUsageAndInboxErrors() throws {
    let script = Self.repository + "/bin/sc-inbox"
    let binDirectory = (try ToolRunner.path(of: "sc-open") as NSString).deletingLastPathComponent
    XCTAssertEqual(try ToolRunner.run("sc-keygen", ["-o", directory + "/k.key"]).status, 0)
    try FileManager.default.createDirectory(
      atPath: directory + "/open", withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
    let cases: [([String], String)] = [
      (["-n", "inbox", "-k", "k.key"], "no inbox directory"),
      (["-k", "k.key", "."], "no name"),
      (["-n", "inbox", "."], "no key"),
      (["-n", "inbox", "-k", "k.key", "-p", "peers", "."], "exclude each other"),
      (["-n", "in box", "-k", "k.key", "."], "the name is"),
      (["-n", "inbox", "-k", "k.key", "-t", "0", "."], "the timeout"),
      (["-n", "inbox", "-k", "k.key", "missing"], "inbox missing is not a directory"),
      (["-n", "inbox", "-k", "k.key", "open"], "inbox open is open to others (mode 0755)"),
      (["--bogus"], "unknown option --bogus"),
    ]
    for (arguments, message) in cases {
      let result = try ToolRunner.runExecutable(
        script, arguments, stdin: .none, environment: ["PATH": binDirectory + ":/usr/bin:/bin"], directory: directory)
      XCTAssertEqual(result.status, 2, "\(arguments): \(result.stderr)")
      XCTAssertTrue(result.stderr.hasPrefix("sc-inbox: error: "), "\(arguments): \(result.stderr)")
      XCTAssertTrue(result.stderr.contains(message), "\(arguments): \(result.stderr)")
    }
  }

  /// Thirty ordinary `sc-chat connect` senders at once, in script mode: each gets a receipt for
  /// every line and exits 0. Under this load sc-chat's supervisor used to lose events: a `read -t`
  /// that timed out in the middle of an event line dropped what it had read, so receipts went
  /// missing and 12 of 30 senders waited until killed.
  func testThirtySCChatSendersAtOnceAllGetEveryReceipt() throws {
    let senders = 30
    let binDirectory = (try ToolRunner.path(of: "sc-open") as NSString).deletingLastPathComponent
    let port = try ToolRunner.freeLoopbackPort()
    let script = #"""
      set -u
      inbox_script=$1 chat=$2 port=$3 n=$4
      mkdir -m 700 inbox keys runtime
      printf 'securechat-peers-v1\n' >peers
      chmod 600 peers
      for i in $(seq -w 1 "$n"); do
        sc-keygen -o "keys/p$i.key" 2>/dev/null
        printf 'p%s - - keys/p%s.key peer%s\n' "$i" "$i" "$i" >>peers
      done
      listening() { grep -q " 0100007F:$(printf '%04X' "$port") 00000000:0000 0A " /proc/net/tcp; }
      socat -t 10 TCP-LISTEN:"$port",bind=127.0.0.1,fork,reuseaddr \
        EXEC:"$inbox_script -n inbox -p $PWD/peers $PWD/inbox" 2>server.err &
      server=$!
      trap 'kill "$server" 2>/dev/null' EXIT
      for _ in $(seq 100); do listening && break; sleep 0.05; done
      pids=()
      for i in $(seq -w 1 "$n"); do
        (
          printf 'one\ntwo\nthree\nfour\n' | XDG_RUNTIME_DIR=$PWD/runtime timeout 60 "$chat" -n "peer$i" \
            -k "keys/p$i.key" connect 127.0.0.1 "$port" >/dev/null 2>"err.$i"
          echo "status peer$i $? delivered $(grep -c '^sc-chat: delivered ' "err.$i")"
        ) &
        pids+=($!)
      done
      for pid in "${pids[@]}"; do wait "$pid"; done
      echo "files $(ls inbox | wc -l)"
      """#
    let result = try ToolRunner.runExecutable(
      "/bin/bash",
      [
        "-c", script, "senders", Self.repository + "/bin/sc-inbox", Self.repository + "/bin/sc-chat", String(port),
        String(senders),
      ],
      stdin: .none, environment: ["PATH": binDirectory + ":/usr/bin:/bin", "HOME": directory],
      directory: directory, timeout: 120)
    let output = String(decoding: result.stdout, as: UTF8.self)
    for i in 1...senders {
      let peer = String(format: "peer%02d", i)
      XCTAssertTrue(output.contains("status \(peer) 0 delivered 4\n"), "\(peer): \(output)")
    }
    XCTAssertTrue(output.contains("files \(senders * 4)\n"), output)
  }
}
