import Foundation
import XCTest

/// `sc-chat` with identities (issue 15; sc-chat(1), Identities and keys): two users, each with a
/// default identity in a home of their own, who put each other's public key in their address
/// books and chat by label; and users who meet without one, through the known peers file.
///
/// Each scenario runs as a shell script with the real tools and socat on 127.0.0.1, bounded in
/// time; every process it starts is killed by PID when it ends.
final class ChatIdentityTests: XCTestCase {
  /// What every script starts with: `as WHO COMMAND…` runs a command in WHO's home (a, b, m),
  /// with its own runtime directory (`as_bg` in the background, so that `$!` is the command's own
  /// PID, which the trap kills); `listening PORT`; `wait_until SECONDS COMMAND…`.
  private static let prelude = #"""
    set -u
    chat=$1
    pids=()
    trap 'for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done; wait 2>/dev/null' EXIT
    listening() { grep -q ":$(printf '%04X' "$1") 00000000:0000 0A" /proc/net/tcp; }
    wait_until() { # wait_until SECONDS COMMAND...: true once COMMAND succeeds
      local tries=$(($1 * 20))
      shift
      while ((tries-- > 0)); do "$@" && return 0; sleep 0.05; done
      return 1
    }
    as() { local who=$1; shift; HOME=$PWD/$who XDG_RUNTIME_DIR=$PWD/run-$who "$@"; }
    as_bg() { local who=$1; shift; HOME=$PWD/$who XDG_RUNTIME_DIR=$PWD/run-$who exec "$@"; }
    for who in a b m; do mkdir -p -m 700 "$who/.config/securechat" "run-$who"; done
    as a sc-keygen --identity -o a/.config/securechat/identity >a.pub 2>/dev/null || exit 90
    as b sc-keygen --identity -o b/.config/securechat/identity >b.pub 2>/dev/null || exit 90
    as m sc-keygen --identity -o m/.config/securechat/identity >m.pub 2>/dev/null || exit 90

    """#

  /// Alice and Bob put each other's public key in their address books; Alice connects to "bob"
  /// through a relay. After a cut, the reconnect proves the same keys and goes on without
  /// /confirm. Then Mallory, with an identity of her own, cuts the link again and answers both
  /// reconnects (as bob to alice, as alice to bob): both are refused, nothing queued leaves either
  /// side. (The pre-shared-key version of this attack is ReconnectAttackTests.)
  private static let addressBookAndReconnects =
    prelude + #"""
      bob_port=$2 relay_port=$3
      key=$(cat b.pub)
      # A mistyped key is refused, and nothing is added.
      if [ "${key:20:1}" = q ]; then c=p; else c=q; fi
      as a "$chat" peers add bob 127.0.0.1 "$relay_port" "${key:0:20}$c${key:21}" 2>mistyped.err
      echo "mistyped-status $?"
      as a "$chat" peers add bob 127.0.0.1 "$relay_port" "$key" 2>add.err || exit 91
      as b "$chat" peers add alice - - "$(cat a.pub)" 2>/dev/null || exit 92
      as a "$chat" peers >a.list 2>&1

      mkfifo bob.in alice.in
      as_bg b "$chat" -n bob listen "$bob_port" <bob.in >bob.out 2>bob.err &
      pids+=($!)
      exec 3>bob.in
      wait_until 10 listening "$bob_port" || exit 93
      socat TCP-LISTEN:"$relay_port",bind=127.0.0.1,reuseaddr TCP:127.0.0.1:"$bob_port" 2>/dev/null &
      relay=$!
      pids+=("$relay")
      wait_until 10 listening "$relay_port" || exit 94
      as_bg a "$chat" -n alice connect bob <alice.in >alice.out 2>alice.err &
      alice=$!
      pids+=("$alice")
      exec 4>alice.in
      echo "hello before the cut" >&4
      wait_until 15 grep -q '^sc-chat: delivered 1$' alice.err || exit 95

      # A cut, and the relay again: the reconnect proves the same keys.
      kill "$relay"
      wait "$relay" 2>/dev/null
      wait_until 10 grep -q 'broke off' bob.err || exit 96
      socat TCP-LISTEN:"$relay_port",bind=127.0.0.1,reuseaddr TCP:127.0.0.1:"$bob_port" 2>/dev/null &
      relay=$!
      pids+=("$relay")
      echo "hello after the cut" >&4
      wait_until 20 grep -q '^sc-chat: delivered 2$' alice.err || exit 97

      # Mallory cuts it and answers both reconnects with her own identity.
      printf '%s\n' '#!/bin/sh' \
        'sc-handshake --responder -i m/.config/securechat/identity -n bob --known-peers m.known --accept-new \' \
        '  -o m-alice.session 2>m-alice.err || exit' \
        'sc-open -s m-alice.session >m-alice.out 2>>m-alice.err' >mallory-as-bob.sh
      printf '%s\n' '#!/bin/sh' \
        'sc-handshake --initiator -i m/.config/securechat/identity -n alice --known-peers m.known --accept-new \' \
        '  -o m-bob.session 2>m-bob.err || exit' \
        'printf "h 0123456789abcdef\nm 1 from mallory, not alice\n" | sc-seal -s m-bob.session 2>>m-bob.err &' \
        'sc-open -s m-bob.session >m-bob.out 2>>m-bob.err' >mallory-as-alice.sh
      chmod +x mallory-as-bob.sh mallory-as-alice.sh
      kill "$relay"
      wait "$relay" 2>/dev/null
      socat TCP-LISTEN:"$relay_port",bind=127.0.0.1,reuseaddr EXEC:./mallory-as-bob.sh 2>/dev/null &
      pids+=($!)
      waits_again() { [ "$(grep -c 'waiting for alice' bob.err)" -ge 2 ]; }
      wait_until 10 waits_again || exit 98
      socat TCP:127.0.0.1:"$bob_port" EXEC:./mallory-as-alice.sh 2>/dev/null &
      pids+=($!)
      echo "alice's secret, typed while cut off" >&4
      echo "bob's secret, typed while cut off" >&3
      if wait_until 20 eval '! kill -0 "$alice" 2>/dev/null'; then
        wait "$alice"
        echo "alice-status $?"
      else
        echo "alice-status still running"
      fi
      wait_until 10 grep -q 'did not authenticate' bob.err
      sleep 1
      exit 0
      """#

  /// Alice has an identity and no entry for the host she dials: Bob's key is unknown, so she is
  /// refused (with the key and its fingerprint in the hint) until --accept-new pins it in her
  /// known peers file; when Bob shows another key later, she is refused, loudly.
  private static let knownPeers =
    prelude + #"""
      port=$2
      mkfifo bob.in alice.in
      as_bg b "$chat" -n bob --accept-new listen "$port" <bob.in >bob.out 2>bob.err &
      bob=$!
      pids+=("$bob")
      exec 3>bob.in
      wait_until 10 listening "$port" || exit 93
      as a timeout 20 "$chat" -n alice --no-reconnect connect 127.0.0.1 "$port" </dev/null >first.out 2>first.err
      echo "first-status $?"
      as_bg a timeout 20 "$chat" -n alice --accept-new --no-reconnect connect 127.0.0.1 "$port" \
        <alice.in >second.out 2>second.err &
      alice=$!
      pids+=("$alice")
      exec 4>alice.in
      echo "hello, new friend" >&4
      wait_until 15 grep -q '^sc-chat: delivered 1$' second.err || exit 95
      exec 4>&-
      wait "$alice"
      echo "second-status $?"
      exec 3>&-
      wait "$bob"

      # Bob has a new identity now (or someone poses as him): Alice's pinned key no longer matches.
      mv b/.config/securechat/identity b/.config/securechat/old-identity
      as b sc-keygen --identity -o b/.config/securechat/identity >b2.pub 2>/dev/null || exit 96
      as_bg b "$chat" -n bob --accept-new listen "$port" </dev/null >third-bob.out 2>third-bob.err &
      pids+=($!)
      wait_until 10 listening "$port" || exit 97
      as a timeout 20 "$chat" -n alice --accept-new --no-reconnect connect 127.0.0.1 "$port" </dev/null \
        >third.out 2>third.err
      echo "third-status $?"
      exit 0
      """#

  private var directory = ""

  override func setUpWithError() throws {
    try super.setUpWithError()
    directory = NSTemporaryDirectory() + "sc-chat-identity-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
  }

  override func tearDownWithError() throws {
    try? FileManager.default.removeItem(atPath: directory)
    try super.tearDownWithError()
  }

  private func file(_ name: String) -> String {
    (try? String(contentsOfFile: directory + "/" + name, encoding: .utf8)) ?? ""
  }

  private func run(_ script: String, ports: [UInt16]) throws -> (status: Int32, stdout: String, report: String) {
    let binDirectory = (try ToolRunner.path(of: "sc-open") as NSString).deletingLastPathComponent
    let run = try ToolRunner.runExecutable(
      "/bin/bash", ["-c", script, "scenario", ChatTests.chatScript] + ports.map(String.init), stdin: .none,
      environment: ["PATH": binDirectory + ":/usr/bin:/bin"], directory: directory, timeout: 120)
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
    let report =
      ["script: \(run.status) \(String(decoding: run.stdout, as: UTF8.self)) \(run.stderr)"]
      + names.filter { $0.hasSuffix(".err") || $0.hasSuffix(".out") }.sorted().map { "\($0): " + file($0) }
    return (run.status, String(decoding: run.stdout, as: UTF8.self), report.joined(separator: "\n"))
  }

  private func twoPorts() throws -> [UInt16] {
    let first = try ToolRunner.freeLoopbackPort()
    var second = try ToolRunner.freeLoopbackPort()
    while second == first { second = try ToolRunner.freeLoopbackPort() }
    return [first, second]
  }

  func testConnectByNameWithPublicKeysReconnectsAndRefusesAnotherIdentityOnBothSides() throws {
    let (status, stdout, report) = try run(Self.addressBookAndReconnects, ports: try twoPorts())
    XCTAssertEqual(status, 0, report)
    // peers add: a mistyped key is refused with its reason; the right one is added with its
    // fingerprint, and listed.
    XCTAssertTrue(stdout.contains("mistyped-status 2"), report)
    XCTAssertTrue(file("mistyped.err").contains("not a valid public key: its checksum does not match"), report)
    let bobKey = file("b.pub").trimmingCharacters(in: .whitespacesAndNewlines)
    XCTAssertTrue(file("add.err").contains("added peer 'bob'"), report)
    XCTAssertTrue(file("add.err").contains("(key fingerprint SHA256:"), report)
    XCTAssertTrue(file("a.list").contains(bobKey), report)
    XCTAssertFalse(file("a/.config/securechat/peers").contains("mistyped"), report)

    // Two sessions, each authenticated by bob's public key; the second needed no /confirm.
    XCTAssertEqual(
      file("alice.err").components(separatedBy: "authenticated by its public key SHA256:").count - 1, 2, report)
    XCTAssertEqual(file("bob.err").components(separatedBy: "(peers entry 'alice')").count - 1, 2, report)
    XCTAssertFalse(file("alice.err").contains("NOT VERIFIED"), report)
    XCTAssertFalse(file("bob.err").contains("NOT VERIFIED"), report)
    XCTAssertTrue(file("bob.out").contains("alice: hello before the cut"), report)
    XCTAssertTrue(file("bob.out").contains("alice: hello after the cut"), report)

    // Mallory's identity is refused by both: alice ends with status 1 and says why, bob goes on
    // listening; nothing typed while cut off reaches her, nothing of hers is shown.
    XCTAssertTrue(stdout.contains("alice-status 1"), report)
    XCTAssertTrue(file("alice.err").contains("is not the one given with --peer-key"), report)
    XCTAssertTrue(file("bob.err").contains("did not authenticate as alice"), report)
    XCTAssertEqual(file("m-alice.out"), "", report)
    XCTAssertFalse(file("m-bob.out").contains("secret"), report)
    XCTAssertFalse(file("bob.out").contains("from mallory"), report)
    XCTAssertFalse(file("bob.out").contains("secret"), report)
  }

  func testAnUnknownPeerIsRefusedThenPinnedWithAcceptNewAndAChangedKeyIsRefused() throws {
    let (status, stdout, report) = try run(Self.knownPeers, ports: [try ToolRunner.freeLoopbackPort()])
    XCTAssertEqual(status, 0, report)
    let bobKey = file("b.pub").trimmingCharacters(in: .whitespacesAndNewlines)
    // Unknown: refused, with the key to compare and both ways to accept it.
    XCTAssertTrue(stdout.contains("first-status 1"), report)
    XCTAssertTrue(file("first.err").contains("is not in the known peers file"), report)
    XCTAssertTrue(file("first.err").contains(bobKey), report)
    XCTAssertEqual(file("first.out"), "", report)
    // --accept-new: the chat works and bob's key is pinned under his name.
    XCTAssertTrue(stdout.contains("second-status 0"), report)
    XCTAssertTrue(file("bob.out").contains("alice: hello, new friend"), report)
    XCTAssertEqual(file("a/.config/securechat/known_peers"), "bob \(bobKey)\n", report)
    // Another key for bob: refused even with --accept-new, naming both fingerprints.
    XCTAssertTrue(stdout.contains("third-status 1"), report)
    XCTAssertTrue(file("third.err").contains("the key of peer 'bob' has changed"), report)
    XCTAssertEqual(file("a/.config/securechat/known_peers"), "bob \(bobKey)\n", "the pinned key stays\n" + report)
  }
}
