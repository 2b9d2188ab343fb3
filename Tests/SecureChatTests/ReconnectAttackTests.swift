import Foundation
import XCTest

/// Issue 12, finding 1: a holder of the pre-shared key relays the first connection faithfully
/// (so the users compare matching codes), cuts it, and then answers both reconnects himself —
/// as bob to alice, as alice to bob — hoping to receive the lines typed while the link was down.
/// sc-chat's reconnects must prove that they continue the verified session (PROTOCOL.md §4.7,
/// §7.12): his handshake with alice fails, bob refuses his, and nothing queued leaves either side.
///
/// Everything runs as a shell script with the real tools and socat on 127.0.0.1; every process it
/// starts is killed by PID when it ends.
final class ReconnectAttackTests: XCTestCase {
  private static let attack = #"""
    set -u
    chat=$1 bob_port=$2 mallory_port=$3
    pids=()
    trap 'for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done; wait 2>/dev/null' EXIT
    listening() { grep -q ":$(printf '%04X' "$1") 00000000:0000 0A" /proc/net/tcp; }
    wait_until() { # wait_until SECONDS COMMAND...: true once COMMAND succeeds
      local tries=$(($1 * 20))
      shift
      while ((tries-- > 0)); do "$@" && return 0; sleep 0.05; done
      return 1
    }

    sc-keygen -o k.key 2>/dev/null || exit 90
    mkfifo bob.in alice.in
    mkdir -m 700 run-alice run-bob
    XDG_RUNTIME_DIR=$PWD/run-bob "$chat" -n bob -k k.key listen "$bob_port" <bob.in >bob.out 2>bob.err &
    pids+=($!)
    exec 3>bob.in
    wait_until 10 listening "$bob_port" || exit 91

    # Mallory relays the first connection as it is: the two codes are the same.
    socat TCP-LISTEN:"$mallory_port",bind=127.0.0.1,reuseaddr TCP:127.0.0.1:"$bob_port" 2>/dev/null &
    relay=$!
    pids+=("$relay")
    wait_until 10 listening "$mallory_port" || exit 92
    XDG_RUNTIME_DIR=$PWD/run-alice "$chat" -n alice -k k.key connect 127.0.0.1 "$mallory_port" \
      <alice.in >alice.out 2>alice.err &
    alice=$!
    pids+=("$alice")
    exec 4>alice.in
    echo "hello before the cut" >&4
    wait_until 15 grep -q '^sc-chat: delivered 1$' alice.err || exit 93

    # He cuts it, and takes both reconnects: alice's comes to him, and he dials bob as alice.
    # (A refused handshake lingers a second, so that socat passes its abort on to alice before
    # it sees the command end.)
    printf '%s\n' '#!/bin/sh' \
      'sc-handshake --responder -k k.key -n bob -o m-alice.session 2>m-alice.err || { sleep 1; exit 1; }' \
      'sc-open -s m-alice.session >m-alice.out 2>>m-alice.err' >mallory-as-bob.sh
    printf '%s\n' '#!/bin/sh' \
      'sc-handshake --initiator -k k.key -n alice -o m-bob.session 2>m-bob.err || exit' \
      'printf "h 0123456789abcdef\nm 1 from mallory, not alice\n" | sc-seal -s m-bob.session 2>>m-bob.err &' \
      'sc-open -s m-bob.session >m-bob.out 2>>m-bob.err' >mallory-as-alice.sh
    chmod +x mallory-as-bob.sh mallory-as-alice.sh
    kill "$relay"
    wait "$relay" 2>/dev/null
    socat TCP-LISTEN:"$mallory_port",bind=127.0.0.1,reuseaddr EXEC:./mallory-as-bob.sh 2>/dev/null &
    pids+=($!)
    wait_until 10 grep -q 'broke off' bob.err || exit 94
    wait_until 10 grep -q 'waiting for alice' bob.err || exit 95
    socat TCP:127.0.0.1:"$bob_port" EXEC:./mallory-as-alice.sh 2>/dev/null &
    pids+=($!)
    # Typed while the link is down: neither may reach him.
    echo "alice's secret, typed while cut off" >&4
    echo "bob's secret, typed while cut off" >&3

    # Alice's reconnect ends (with the fix: it cannot prove continuity, status 1); give it 20 s.
    if wait_until 20 eval '! kill -0 "$alice" 2>/dev/null'; then
      wait "$alice"
      echo "alice-status $?"
    else
      echo "alice-status still running"
    fi
    wait_until 10 grep -q "refused a connection\|the chat with alice broke off.*\|connected to alice.*" bob.err
    sleep 1
    exit 0
    """#

  func testAKeyHolderCannotTakeOverTheReconnectsOfAVerifiedChat() throws {
    let directory = NSTemporaryDirectory() + "sc-reconnect-attack-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let binDirectory = (try ToolRunner.path(of: "sc-open") as NSString).deletingLastPathComponent
    let bobPort = try ToolRunner.freeLoopbackPort()
    var malloryPort = try ToolRunner.freeLoopbackPort()
    while malloryPort == bobPort { malloryPort = try ToolRunner.freeLoopbackPort() }
    let run = try ToolRunner.runExecutable(
      "/bin/bash", ["-c", Self.attack, "attack", ChatTests.chatScript, String(bobPort), String(malloryPort)],
      stdin: .none, environment: ["PATH": binDirectory + ":/usr/bin:/bin", "HOME": directory],
      directory: directory, timeout: 90)
    func file(_ name: String) -> String {
      (try? String(contentsOfFile: directory + "/" + name, encoding: .utf8)) ?? ""
    }
    let report = [
      "script: \(run.status) \(run.stdout) \(run.stderr)", "alice.err: " + file("alice.err"),
      "bob.err: " + file("bob.err"), "bob.out: " + file("bob.out"), "m-alice.err: " + file("m-alice.err"),
      "m-alice.out: " + file("m-alice.out"), "m-bob.err: " + file("m-bob.err"), "m-bob.out: " + file("m-bob.out"),
    ].joined(separator: "\n")
    XCTAssertEqual(run.status, 0, report)
    // The first connection went through him and worked: the users saw one code on both sides.
    XCTAssertTrue(file("bob.out").contains("alice: hello before the cut"), report)
    let codes = ["alice.err", "bob.err"].map { name in
      file(name).split(separator: "\n").first { $0.contains("verification code: ") }.map(String.init)
    }
    XCTAssertNotNil(codes[0], report)
    XCTAssertEqual(codes[0].map { $0.split(separator: ":").last }, codes[1].map { $0.split(separator: ":").last })

    // Alice's reconnect to him fails before she sends anything, and she says why.
    XCTAssertTrue(String(decoding: run.stdout, as: UTF8.self).contains("alice-status 1"), report)
    XCTAssertTrue(file("alice.err").contains("does not hold that session's continuation secret"), report)
    XCTAssertFalse(file("m-alice.out").contains("secret"), report)
    XCTAssertEqual(file("m-alice.out"), "", "mallory received nothing from alice after the cut\n" + report)

    // Bob refuses the session mallory made with him as "alice": nothing of bob's queue goes out,
    // and nothing of mallory's is shown as alice's.
    XCTAssertTrue(file("bob.err").contains("refused a connection"), report)
    XCTAssertTrue(file("bob.err").contains("does not continue the session you verified"), report)
    XCTAssertFalse(file("m-bob.out").contains("secret"), report)
    XCTAssertFalse(file("bob.out").contains("from mallory"), report)
  }
}
