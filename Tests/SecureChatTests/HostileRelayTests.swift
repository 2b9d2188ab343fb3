import Foundation
import SecureChatCrypto
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// A hostile network between two real peers. Each run is one live session over 127.0.0.1 TCP
/// (sc-handshake, then sc-open and sc-seal on each side; `LiveSession`) through an in-process
/// relay whose editors (`HostileEditor`) apply mutations drawn from the run's seed to the
/// handshake messages and frames of either direction: bit flips (with or without a fixed
/// CRC), drops, duplicates, reordering, delays, fragmentation, truncation, random bytes,
/// forged messages and frames, units from another session, reflected units and replayed ones.
///
/// A bit of the seed picks the protocol version, so about half the runs are version 1
/// sessions (a pre-shared key, `-k`: I1 I2 / R1 R2) and half version 2 sessions (identities,
/// `-i` with `--peer-key`: I1 I2 I3 / R1 R2 R3, docs/PROTOCOL.md §11), with every mutation
/// class in both; a seed keeps its version when it is replayed, and a version 1 seed makes the
/// mutations it made before version 2 was added. The report counts each version apart.
///
/// Whatever the relay does, every run must keep these invariants (`HostileRun.check`):
/// - no tool is killed by a signal, exits with a status other than 0, 1, 2, or outlives the
///   run's deadline;
/// - a side whose handshake succeeds received all the peer's handshake messages unaltered (two
///   or three), names the right peer (and in version 2 shows the peer's public key), and shows
///   the same verification code as the peer if both succeed; a side whose handshake fails
///   writes no session file and says why in one error line, with status 2 only for what the
///   protocol calls not ours (not a peer, another version, a connection closed before the first
///   byte, a timeout) and 1 otherwise. (The responder finishes first in both versions, after
///   R2 or R3: a change to its last message fails the initiator alone, §7.10, and the
///   responder's sc-open then reads the initiator's abort);
/// - sc-open writes exactly the messages of the frames that arrived unaltered and in order
///   before the first change to the stream (the messages carry their index, so a forged,
///   altered, reordered or replayed one would show); it exits 0 only if the whole stream arrived
///   up to the final frame, else 1 (never 2: nothing an attacker sends is "not ours" after an
///   authenticated handshake) with one error line; a stream that was only cut says truncated;
/// - sc-seal exits 0 (the relay always reads what it is sent).
///
/// `make check` runs `testHostileRelayRuns` with 1,500 runs; `make soak` (scripts/soak.sh) runs
/// it with SOAK_RUNS (100,000 by default). SOAK_SEED sets the base seed (printed); a violation
/// prints the run's seed, and SOAK_REPLAY=seed[,seed…] runs just those runs again with the same
/// mutations (the bytes differ: keys and IVs are fresh every time).
final class HostileRelayTests: XCTestCase {
  private var directory = ""
  /// Alice's and Bob's identities for the version 2 runs, made once and used by every run.
  private var identities: (alice: LiveSession.Identity, bob: LiveSession.Identity)?

  override func setUpWithError() throws {
    try super.setUpWithError()
    for tool in ToolRunner.toolNames { _ = try ToolRunner.path(of: tool) }
    // Session files on a tmpfs when there is one: thousands are written and removed.
    let base = FileManager.default.isWritableFile(atPath: "/dev/shm") ? "/dev/shm/" : NSTemporaryDirectory()
    var template = Array(((base.hasSuffix("/") ? base : base + "/") + "sc-hostile-XXXXXX").utf8CString)
    guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
      throw ToolRunnerError(description: "mkdtemp failed")
    }
    directory = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    let result = try ToolRunner.run("sc-keygen", ["-o", directory + "/k.key"])
    guard result.status == 0 else { throw ToolRunnerError(description: "sc-keygen failed: \(result.stderr)") }
    identities = (try .make(directory + "/alice.id"), try .make(directory + "/bob.id"))
  }

  override func tearDownWithError() throws {
    if !directory.isEmpty { try? FileManager.default.removeItem(atPath: directory) }
    try super.tearDownWithError()
  }

  private static func environment(_ name: String) -> String? {
    ProcessInfo.processInfo.environment[name].flatMap { $0.isEmpty ? nil : $0 }
  }

  private static func parseSeed(_ text: String) -> UInt64? {
    text.hasPrefix("0x") ? UInt64(text.dropFirst(2), radix: 16) : UInt64(text)
  }

  func testHostileRelayRuns() throws {
    // Under AddressSanitizer (make check-asan sets ASAN_OPTIONS) every tool is slower.
    let defaultRuns = ProcessInfo.processInfo.environment["ASAN_OPTIONS"] == nil ? 1500 : 300
    let runs = Self.environment("SOAK_RUNS").flatMap { Int($0) } ?? defaultRuns
    let jobs = Self.environment("SOAK_JOBS").flatMap { Int($0) } ?? 16
    let base = Self.environment("SOAK_SEED").flatMap(Self.parseSeed) ?? 0x5EC0_2026_1126
    let replay = Self.environment("SOAK_REPLAY").map {
      $0.split(separator: ",").compactMap { Self.parseSeed(String($0)) }
    }
    let seeds: [UInt64] = replay ?? (0..<runs).map { SplitMix64.mix(base &+ UInt64($0)) }
    let credentials: [Int: LiveSession.Credentials] = [
      1: .preSharedKey(directory + "/k.key"), 2: .identities(alice: identities!.alice, bob: identities!.bob),
    ]
    let report = try HostileSoak(directory: directory, credentials: credentials, jobs: jobs).run(seeds: seeds)
    print(
      replay == nil ? "hostile relay: base seed \(String(base, radix: 16, uppercase: false))" : "hostile relay: replay")
    print(report.summary)
    for violation in report.violations.prefix(50) { XCTFail(violation) }
    if report.violations.count > 50 { XCTFail("\(report.violations.count - 50) more violations") }
    // The relay must really have been hostile, and the harness must work when it is not: in
    // each version (about half the runs each, from a bit of the seed), every mutation kind,
    // failed and successful handshakes, and streams refused.
    XCTAssertEqual(report.runs, seeds.count + 2)
    if replay == nil && seeds.count >= 500 {
      for version in 1...2 {
        let runs = report.runsPerVersion[version, default: 0]
        XCTAssertGreaterThan(runs, seeds.count / 3, "too few version \(version) runs")
        for kind in MutationKind.allCases {
          XCTAssertGreaterThan(
            report.applied[version]?[kind] ?? 0, runs / 60, "mutation \(kind) was rarely applied in version \(version)")
        }
        XCTAssertGreaterThan(
          report.cleanRuns[version, default: 0], runs / 50,
          "too few version \(version) runs without a mutation succeeded")
        let outcomes = report.outcomes[version] ?? [:]
        for outcome in [
          "sc-handshake 0", "sc-handshake 1 authentication", "sc-open 1 out-of-order", "sc-open 1 authentication",
        ] {
          XCTAssertGreaterThan(outcomes[outcome, default: 0], 0, "no '\(outcome)' in version \(version)")
        }
      }
    }
  }

  /// The splitter finds three handshake messages a direction in version 2 (types 1–6), then
  /// frames; version 1 knows two, and types 5 and 6 are not its messages.
  func testSplitterFindsTheMessagesOfEachVersion() {
    func message(_ type: UInt8, _ length: Int) -> [UInt8] {
      [type, UInt8(length >> 8), UInt8(length & 0xff)] + [UInt8](repeating: 0xaa, count: length)
    }
    var frame = [UInt8](repeating: 0, count: 68 + 16)
    frame[0...3] = [1, 1, 1, 0]
    frame[15] = 16
    let stream = message(2, 65) + message(4, 148) + message(6, 32) + frame
    var splitter = SessionUnitSplitter(handshakeMessages: 3)
    // One byte at a time: a unit comes out only when it is whole.
    var units: [SessionUnitSplitter.Unit] = []
    for byte in stream {
      splitter.append([byte])
      while let unit = splitter.next() { units.append(unit) }
    }
    XCTAssertEqual(units.count, 4)
    for (index, length) in [68, 151, 35].enumerated() {
      guard case .handshake(index, let bytes) = units[index] else { return XCTFail("unit \(index): \(units[index])") }
      XCTAssertEqual(bytes.count, length)
    }
    guard case .frame(0, frame, true) = units[3] else { return XCTFail("unit 3: \(units[3])") }
    XCTAssertEqual(splitter.remainder(), [])

    var version1 = SessionUnitSplitter()
    version1.append(ArraySlice(message(2, 65) + message(4, 116) + message(6, 32)))
    guard case .handshake(0, _) = version1.next(), case .handshake(1, _) = version1.next(),
      case .other(let rest) = version1.next()
    else { return XCTFail("version 1 splits R3 as a message") }
    XCTAssertEqual(rest, message(6, 32))
  }

  /// The invariant checker must be able to fail: an output with a message more or less than
  /// arrived intact, an altered message, or a wrong status is flagged.
  func testCheckerFlagsAForgedOutput() throws {
    let lines = ["alice 0 x\n", "alice 1 y\n"]
    var run = HostileRun.Expectation(lines: lines, intactFrames: 1, finalIntact: false)
    XCTAssertNil(run.checkOutput(Array("alice 0 x\n".utf8), status: 1))
    XCTAssertNotNil(run.checkOutput(Array("alice 0 x\nalice 1 y\n".utf8), status: 1), "more than verified")
    XCTAssertNotNil(run.checkOutput(Array("alice 0 x\nalice 1 z\n".utf8), status: 0), "altered")
    XCTAssertNotNil(run.checkOutput([], status: 1), "a verified message lost")
    run = HostileRun.Expectation(lines: lines, intactFrames: 2, finalIntact: true)
    XCTAssertNil(run.checkOutput(Array(lines.joined().utf8), status: 0))
    XCTAssertNotNil(run.checkOutput(Array(lines.joined().utf8), status: 1), "status 1 for a whole stream")
    XCTAssertNotNil(run.checkOutput(Array(lines.joined().utf8), status: 2), "status 2")
    run.trailingBytes = true
    XCTAssertNil(run.checkOutput(Array(lines.joined().utf8), status: 1), "data after the final frame")
  }
}

// MARK: - Seeds and mutations

struct SplitMix64 {
  var state: UInt64
  init(_ seed: UInt64) { state = seed }

  static func mix(_ value: UInt64) -> UInt64 {
    var z = value &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  mutating func next() -> UInt64 {
    state = state &+ 0x9E37_79B9_7F4A_7C15
    return SplitMix64.mix(state &- 0x9E37_79B9_7F4A_7C15)
  }

  mutating func below(_ bound: Int) -> Int { bound <= 1 ? 0 : Int(next() % UInt64(bound)) }
  mutating func chance(_ percent: Int) -> Bool { below(100) < percent }
}

enum MutationKind: String, CaseIterable, Comparable {
  case flip, drop, duplicate, reorder, delay, fragment, truncate
  case injectRandom = "inject-random"
  case injectForged = "inject-forged"
  case injectForeign = "inject-foreign"
  case reflect, replay

  static func < (a: MutationKind, b: MutationKind) -> Bool { a.rawValue < b.rawValue }
}

/// One mutation of a unit of one direction: units 0 to N - 1 are the sender's N handshake
/// messages (2 in version 1, 3 in version 2), unit N + i its frame i (the last one is the final
/// frame).
struct Mutation: CustomStringConvertible {
  let kind: MutationKind
  let toBob: Bool
  let unit: Int
  /// N, the handshake messages of each direction.
  let handshakeMessages: Int
  /// Random values drawn with the plan, used when the unit passes (so the run's seed decides
  /// everything, whatever the timing).
  let random: [UInt64]
  var replaces: Bool { random[3] & 1 == 0 }

  var description: String {
    let target = unit < handshakeMessages ? "\(toBob ? "I" : "R")\(unit + 1)" : "frame \(unit - handshakeMessages)"
    return "\(kind) \(toBob ? "alice->bob" : "bob->alice") \(target)"
  }
}

/// What a run does, from its seed.
struct RunPlan {
  let seed: UInt64
  /// The protocol version, from the seed's low bit (so a replayed seed runs in its version):
  /// 1 (pre-shared key, two handshake messages each way) or 2 (identities, three).
  let version: Int
  let aliceLines: [String]
  let bobLines: [String]
  let mutations: [Mutation]

  init(seed: UInt64, mutating: Bool = true) {
    self.seed = seed
    version = seed & 1 == 0 ? 1 : 2
    // (The draws below are those of the relay before it knew version 2: a version 1 seed still
    // makes the same mutations.)
    let handshakeMessages = version == 1 ? 2 : 3
    var rng = SplitMix64(seed)
    func lines(_ sender: String) -> [String] {
      (0..<rng.below(7)).map { index in
        let length = rng.chance(8) ? 1000 + rng.below(3000) : rng.below(100)
        let payload = (0..<length).map { _ in Character(UnicodeScalar(UInt8(33 + rng.below(94)))) }
        return "\(sender) \(index) \(String(payload))\n"
      }
    }
    aliceLines = lines("alice")
    bobLines = lines("bob")
    let roll = rng.below(100)
    let count = !mutating || roll < 4 ? 0 : roll < 74 ? 1 : roll < 92 ? 2 : 3
    var mutations: [Mutation] = []
    for _ in 0..<count {
      let kind = MutationKind.allCases[rng.below(MutationKind.allCases.count)]
      let toBob = rng.chance(50)
      let frames = (toBob ? aliceLines : bobLines).count + 1
      let unit = rng.chance(35) ? rng.below(handshakeMessages) : handshakeMessages + rng.below(frames)
      mutations.append(
        Mutation(
          kind: kind, toBob: toBob, unit: unit, handshakeMessages: handshakeMessages,
          random: (0..<4).map { _ in rng.next() }))
    }
    self.mutations = mutations
  }

  /// The handshake messages of each direction (docs/PROTOCOL.md §11.1).
  var handshakeMessages: Int { version == 1 ? 2 : 3 }
}

// MARK: - The hostile editor

/// Units seen in a session, for reflection and replay, and units of another session.
final class HostileContext {
  /// Per direction (0: to bob, 1: to alice), the units in order, by unit number.
  var seen: [[Int: [UInt8]]] = [[:], [:]]
  let foreign: [[Int: [UInt8]]]
  init(foreign: [[Int: [UInt8]]]) { self.foreign = foreign }
}

/// Applies a run's mutations to one direction, and records what came in and what went out.
final class HostileEditor: RelayEditor {
  let direction: Int
  /// The protocol version of the session (1 or 2), and the handshake messages it has per
  /// direction (2 or 3): units before that number are messages, the rest frames.
  let version: Int
  let handshakeMessages: Int
  private let mutations: [Mutation]
  private let context: HostileContext
  /// The sender's bytes as they came, and where each unit ends in them.
  private(set) var original: [UInt8] = []
  private(set) var handshakeEnds: [Int] = []
  /// End offsets of the data frames, and of the final frame.
  private(set) var frameEnds: [Int] = []
  private(set) var finalEnd: Int?
  /// What the editor released, in order.
  private(set) var released: [UInt8] = []
  private(set) var applied: [MutationKind: Int] = [:]
  private(set) var ended = false
  var holding: Bool { !queue.isEmpty }

  private var splitter: SessionUnitSplitter
  private var queue: [(at: Double, bytes: [UInt8], cut: Bool)] = []
  private var stashed: [UInt8]?
  private var cutPending = false

  init(direction: Int, version: Int, mutations: [Mutation], context: HostileContext) {
    self.direction = direction
    self.version = version
    handshakeMessages = version == 1 ? 2 : 3
    splitter = SessionUnitSplitter(handshakeMessages: handshakeMessages)
    self.mutations = mutations
    self.context = context
  }

  func feed(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
    let start = original.count
    original += bytes
    splitter.append(bytes)
    var out: [UInt8] = []
    var offset = start - pendingParse
    while let unit = splitter.next() {
      switch unit {
      case .handshake(let index, let message):
        offset += message.count
        handshakeEnds.append(offset)
        context.seen[direction][index] = message
        process(unit: index, message, isFrame: false, into: &out)
      case .frame(let index, let frame, let isFinal):
        offset += frame.count
        if isFinal { finalEnd = offset } else { frameEnds.append(offset) }
        context.seen[direction][handshakeMessages + index] = frame
        process(unit: handshakeMessages + index, frame, isFrame: true, into: &out)
      case .other(let rest):
        offset += rest.count
        send(rest, into: &out)
      }
    }
    pendingParse = original.count - offset
    return out
  }

  /// Bytes received but not yet returned by the splitter as a unit.
  private var pendingParse = 0

  func finish() -> [UInt8] {
    var out: [UInt8] = []
    if let stashed {
      self.stashed = nil
      send(stashed, into: &out)
    }
    send(splitter.remainder(), into: &out)
    pendingParse = 0
    return out
  }

  func takeInjected() -> [UInt8] {
    guard !queue.isEmpty else { return [] }
    let now = StreamRelay.now()
    var out: [UInt8] = []
    while let first = queue.first, first.at <= now {
      queue.removeFirst()
      if first.cut {
        queue = []
        ended = true
        break
      }
      out += first.bytes
      released += first.bytes
    }
    return out
  }

  /// Sends `bytes` now, or after what is queued.
  private func send(_ bytes: [UInt8], delay: Double = 0, into out: inout [UInt8]) {
    guard !ended && !cutPending, !bytes.isEmpty || delay > 0 else { return }
    if queue.isEmpty && delay == 0 {
      out += bytes
      released += bytes
    } else {
      let at = max(queue.last?.at ?? 0, StreamRelay.now() + delay)
      queue.append((at, bytes, false))
    }
  }

  private func cut(into out: inout [UInt8]) {
    guard !ended && !cutPending else { return }
    if queue.isEmpty {
      ended = true
    } else {
      cutPending = true
      queue.append((queue.last!.at, [], true))
    }
  }

  private func count(_ kind: MutationKind) { applied[kind, default: 0] += 1 }

  private func process(unit: Int, _ bytes: [UInt8], isFrame: Bool, into out: inout [UInt8]) {
    var body: [UInt8]? = bytes
    var before: [[UInt8]] = []
    var after: [[UInt8]] = []
    var delay = 0.0
    var split: Int?
    var cutAt: Int?
    var reorder = false
    for mutation in mutations where mutation.unit == unit {
      let r = mutation.random
      switch mutation.kind {
      case .flip:
        guard var changed = body else { continue }
        for k in 0..<(1 + Int(r[0] % 3)) {
          let bit = Int((r[1] &+ UInt64(k) &* r[2]) % UInt64(changed.count * 8))
          changed[bit / 8] ^= UInt8(1 << (bit % 8))
        }
        // An attacker fixes the CRC, so that the tag has to catch the change.
        if isFrame && r[3] % 2 == 0 { SessionUnits.fixCRC(&changed) }
        body = changed
      case .drop:
        body = nil
      case .duplicate:
        after.append(bytes)
      case .reorder:
        reorder = true
      case .delay:
        delay = max(delay, Double(20 + r[0] % 400) / 1000)
      case .fragment:
        guard bytes.count > 1 else { continue }
        split = 1 + Int(r[0] % UInt64(bytes.count - 1))
      case .truncate:
        cutAt = Int(r[0] % UInt64(bytes.count))
      case .injectRandom:
        var rng = SplitMix64(r[1])
        before.append((0..<(1 + Int(r[0] % 80))).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
      case .injectForged:
        let forged = forge(unit: unit, random: r)
        if mutation.replaces { body = nil }
        before.append(forged)
      case .injectForeign:
        let pool = context.foreign[direction]
        guard let other = pool[unit] ?? pool.values.sorted(by: { $0.count < $1.count }).first else { continue }
        if mutation.replaces { body = nil }
        before.append(other)
      case .reflect:
        let pool = context.seen[1 - direction]
        guard let other = pool[unit] ?? pool.keys.max().flatMap({ pool[$0] }) else { continue }
        if mutation.replaces { body = nil }
        before.append(other)
      case .replay:
        let earlier = context.seen[direction].keys.filter { $0 < unit }.sorted()
        guard !earlier.isEmpty else { continue }
        before.append(context.seen[direction][earlier[Int(r[0] % UInt64(earlier.count))]]!)
      }
      count(mutation.kind)
    }
    var emission = before.flatMap { $0 }
    let bodyStart = emission.count
    if let body { emission += body }
    emission += after.flatMap { $0 }
    if let cutAt {
      let kept = Array(emission[0..<min(emission.count, bodyStart + cutAt)])
      if reorder, let held = stashed {
        stashed = nil
        send(held, into: &out)
      }
      send(kept, delay: delay, into: &out)
      cut(into: &out)
      return
    }
    if reorder && stashed == nil {
      // Held back, sent after the next unit.
      stashed = emission
      return
    }
    if let split, body != nil, bodyStart + split < emission.count {
      send(Array(emission[..<(bodyStart + split)]), delay: delay, into: &out)
      send(Array(emission[(bodyStart + split)...]), delay: 0.015, into: &out)
    } else {
      send(emission, delay: delay, into: &out)
    }
    if let held = stashed {
      stashed = nil
      send(held, into: &out)
    }
  }

  /// A unit of the right shape for its place, with random contents: a handshake message with
  /// the expected type and length (and the version in a hello), or a frame with the expected
  /// sequence number and a correct CRC (so that only the tag can reject it).
  private func forge(unit: Int, random r: [UInt64]) -> [UInt8] {
    var rng = SplitMix64(r[1])
    func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) } }
    if unit < handshakeMessages {
      let toBob = direction == 0
      // The types alternate I1 R1 I2 R2 (I3 R3); body lengths for names of 1–15 bytes
      // (docs/PROTOCOL.md §3.1, §11.1).
      let type = UInt8(1 + 2 * unit + (toBob ? 0 : 1))
      let lengths = version == 1 ? (toBob ? [65, 148] : [65, 116]) : (toBob ? [65, 32, 148] : [65, 148, 32])
      let length = lengths[unit]
      var message: [UInt8] = [type, UInt8(length >> 8), UInt8(length & 0xff)] + bytes(length)
      if unit == 0 { message[3] = UInt8(version) }
      return message
    }
    let sequence = UInt64(unit - handshakeMessages)
    let length = 16 * (1 + Int(r[0] % 4))
    var frame: [UInt8] = [1, 1, r[2] & 1 == 0 ? 0 : 1, 0]
    frame += (0..<8).map { UInt8(truncatingIfNeeded: sequence >> (56 - 8 * UInt64($0))) }
    frame += (0..<4).map { UInt8(truncatingIfNeeded: length >> (24 - 8 * $0)) }
    frame += bytes(16 + length + 32) + [0, 0, 0, 0]
    SessionUnits.fixCRC(&frame)
    return frame
  }
}

// MARK: - One run and its invariants

final class HostileRun {
  let plan: RunPlan
  let editors: [HostileEditor]
  var outputs: [[UInt8]] = [[], []]  // alice's sc-open output, bob's
  var idleEnded = false
  var deadline = 0.0
  var sessionFiles: [String: Bool] = [:]

  let context: HostileContext

  /// `foreign`: units of another session of the same version and credentials (for
  /// inject-foreign), per direction and unit number.
  init(plan: RunPlan, foreign: [[Int: [UInt8]]]) {
    self.plan = plan
    let context = HostileContext(foreign: foreign)
    self.context = context
    editors = [0, 1].map { direction in
      HostileEditor(
        direction: direction, version: plan.version, mutations: plan.mutations.filter { $0.toBob == (direction == 0) },
        context: context)
    }
  }

  /// What the receiver of one direction must have written.
  struct Expectation {
    let lines: [String]
    /// Data frames that reached the receiver unaltered, in order, before the first change.
    let intactFrames: Int
    let finalIntact: Bool
    /// Whether bytes followed the final frame (sc-open may then report trailing data).
    var trailingBytes = false

    /// nil if `output` and `status` are what sc-open must give; otherwise what is wrong.
    func checkOutput(_ output: [UInt8], status: Int32) -> String? {
      let expected = finalIntact ? lines : Array(lines.prefix(intactFrames))
      if output != Array(expected.joined().utf8) {
        let got = String(decoding: output, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        return
          "wrote \(output.count) bytes (\(got.count - 1) lines, first \(got.first.map { String($0.prefix(40)) } ?? "")), "
          + "not the \(expected.count) messages that arrived intact"
      }
      if finalIntact ? status != 0 && !(status == 1 && trailingBytes) : status != 1 {
        return "exit status \(status) with \(finalIntact ? "the whole stream" : "a damaged stream")"
      }
      return nil
    }
  }

  /// The invariants of a finished run; returns the violations and counts outcomes into `report`.
  func check(_ session: LiveSession, killed: Bool, report: inout SoakReport) -> [String] {
    var problems: [String] = []
    let version = plan.version
    let sides = [session.alice, session.bob]
    if killed { problems.append("did not finish before its deadline (hang)") }
    var codes: [String] = []
    for (index, side) in sides.enumerated() {
      let peer = sides[1 - index]
      // The direction that side receives: to bob is 0, to alice is 1.
      let incoming = index == 0 ? 1 : 0
      let editor = editors[incoming]
      let delivered = Array(editor.released.prefix(session.relay!.directions[incoming].delivered))
      let original = editor.original
      let common = zip(delivered, original).prefix(while: { $0 == $1 }).count
      let peerLines = index == 0 ? plan.bobLines : plan.aliceLines
      let who = side.name

      for (tool, status, stderr) in [
        ("sc-handshake", side.handshakeStatus, side.handshakeError), ("sc-open", side.openStatus, side.openError),
        ("sc-seal", side.sealStatus, side.sealError),
      ] {
        guard let status else { continue }
        if status > 2 { problems.append("\(who): \(tool) exited with status \(status): \(side.text(stderr))") }
      }

      // The handshake.
      guard let handshake = side.handshakeStatus else {
        if !killed { problems.append("\(who): sc-handshake has no status") }
        continue
      }
      let hsText = side.text(side.handshakeError)
      if handshake == 0 {
        report.count("sc-handshake 0", version: version)
        // Each side reads all the peer's messages before it succeeds (in version 2 too, where
        // the responder finishes when it sends R3, before the initiator has checked it, as
        // the responder does with R2 in version 1: docs/PROTOCOL.md §7.10, §11.4).
        if handshakeEnd(editor).map({ common < $0 }) ?? true {
          problems.append("\(who): sc-handshake accepted handshake messages that were changed")
        }
        if !hsText.contains("sc-handshake: authenticated peer '\(peer.name)'\n") {
          problems.append("\(who): sc-handshake succeeded without naming \(peer.name): \(hsText)")
        }
        if case .identities(let alice, let bob) = session.credentials {
          let key = (index == 0 ? bob : alice).publicKey
          if !hsText.contains("sc-handshake: peer key \(key) (SHA256:") {
            problems.append("\(who): sc-handshake succeeded without showing \(peer.name)'s key \(key): \(hsText)")
          }
        }
        if let range = hsText.range(of: #"verification code [0-9 ]+"#, options: .regularExpression) {
          codes.append(String(hsText[range]))
        }
      } else {
        let label = Self.classify(hsText, tool: "sc-handshake")
        report.count("sc-handshake \(handshake) \(label)", version: version)
        if sessionFiles[side.sessionPath] == true { problems.append("\(who): failed handshake left a session file") }
        if let problem = Self.checkErrorLines(hsText, tool: "sc-handshake") { problems.append("\(who): \(problem)") }
        let allowed: [String]
        switch handshake {
        case 1: allowed = ["authentication", "truncated", "rejected", "unexpected-message", "malformed", "low-order"]
        case 2:
          allowed = ["not-a-peer", "unsupported-version", "closed-before", "timeout"]
          let types = 1...UInt8(2 * plan.handshakeMessages)
          if label == "not-a-peer" && delivered.first.map({ types.contains($0) || $0 == 0x7f }) ?? true {
            problems.append("\(who): 'not a peer' though the first byte it got was a message type")
          }
          if label == "unsupported-version" && (delivered.count < 4 || delivered[3] == UInt8(version)) {
            problems.append("\(who): 'another version' though the hello it got says version \(version)")
          }
          if label == "closed-before" && !delivered.isEmpty {
            problems.append("\(who): 'closed before the handshake' though \(delivered.count) bytes were sent to it")
          }
        default: allowed = []
        }
        if !allowed.contains(label) && handshake <= 2 {
          problems.append("\(who): sc-handshake exit \(handshake) for \(label): \(hsText)")
        }
      }

      // The stream it received.
      if side.streamed {
        let dataEnds = editor.frameEnds
        let expectation = HostileRun.Expectation(
          lines: peerLines, intactFrames: dataEnds.prefix(while: { $0 <= common }).count,
          finalIntact: editor.finalEnd.map { $0 <= common } ?? false,
          trailingBytes: editor.finalEnd.map { delivered.count > $0 } ?? false)
        let openText = side.text(side.openError)
        if let status = side.openStatus {
          let label = status == 0 ? "" : " " + Self.classify(openText, tool: "sc-open")
          report.count("sc-open \(status)\(label)", version: version)
          if let problem = expectation.checkOutput(outputs[index], status: status) {
            problems.append("\(who): sc-open \(problem): \(openText)")
          }
          if status == 0 && !openText.isEmpty { problems.append("\(who): sc-open succeeded but said \(openText)") }
          if status == 1 {
            if let problem = Self.checkErrorLines(openText, tool: "sc-open") { problems.append("\(who): \(problem)") }
            if expectation.finalIntact && label != " trailing-data" {
              problems.append("\(who): sc-open failed after the whole stream arrived: \(openText)")
            }
            let onlyCut = common == delivered.count && delivered.count < original.count
            if onlyCut && label != " truncated" && label != " rejected" {
              problems.append("\(who): sc-open gave \(label) for a stream that was only cut")
            }
          }
        }
        if let status = side.sealStatus {
          report.count(
            "sc-seal \(status)\(status == 0 ? "" : " " + Self.classify(side.text(side.sealError), tool: "sc-seal"))",
            version: version)
          if status != 0 && !killed {
            problems.append("\(who): sc-seal exited \(status): \(side.text(side.sealError))")
          }
        }
      } else if handshake == 0 && !killed {
        problems.append("\(who): sc-open and sc-seal did not run after a successful handshake")
      }
    }
    if codes.count == 2 && codes[0] != codes[1] { problems.append("the two sides show different verification codes") }
    return problems
  }

  /// Where the last of the sender's handshake messages ends in its bytes; nil if it did not
  /// send them all.
  private func handshakeEnd(_ editor: HostileEditor) -> Int? {
    editor.handshakeEnds.count == plan.handshakeMessages ? editor.handshakeEnds.last : nil
  }

  /// Every line is the tool's; exactly one is an error, and it comes first.
  static func checkErrorLines(_ text: String, tool: String) -> String? {
    let lines = text.split(separator: "\n")
    guard let first = lines.first, first.hasPrefix("\(tool): error: ") else {
      return "\(tool) failed without an error line: \(text)"
    }
    if lines.dropFirst().contains(where: { !$0.hasPrefix("\(tool): hint: ") }) || !text.hasSuffix("\n") {
      return "\(tool) wrote more than one error line and hints: \(text)"
    }
    return nil
  }

  /// A short name for the failure a tool reported.
  static func classify(_ text: String, tool: String) -> String {
    let table: [(String, String)] = [
      ("not speaking the SecureChat handshake", "not-a-peer"), ("protocol version", "unsupported-version"),
      ("closed the connection before the handshake", "closed-before"), ("timed out", "timeout"),
      ("rejected by the peer", "rejected"), ("low-order", "low-order"), ("unexpected message", "unexpected-message"),
      ("malformed", "malformed"), ("truncated", "truncated"), ("out of order", "out-of-order"),
      ("crc32", "corrupted"), ("out of range", "bad-length"), ("after the final frame", "trailing-data"),
      ("authentication failed", "authentication"), ("connection is closed", "connection-closed"),
    ]
    for (words, label) in table where text.contains(words) { return label }
    let line = text.split(separator: "\n").first.map(String.init) ?? "(nothing)"
    return "other: " + line.replacingOccurrences(of: "\(tool): error: ", with: "").prefix(60)
  }
}

// MARK: - Many runs

/// Counts of many runs; all but the totals per protocol version (1: pre-shared key, 2:
/// identities), so that a class of mutation or outcome missing from one version shows.
struct SoakReport {
  var runs = 0
  var idleEnded = 0
  var seconds = 0.0
  var runsPerVersion: [Int: Int] = [:]
  var cleanRuns: [Int: Int] = [:]
  var applied: [Int: [MutationKind: Int]] = [:]
  var planned: [Int: [MutationKind: Int]] = [:]
  var outcomes: [Int: [String: Int]] = [:]
  var violations: [String] = []

  mutating func count(_ outcome: String, version: Int) { outcomes[version, default: [:]][outcome, default: 0] += 1 }

  var summary: String {
    let versions = [1, 2]
    var text = String(
      format: "hostile relay: %d runs (%d version 1, %d version 2) in %.1f s (%.1f runs/s), %d violations;"
        + " %d runs without a mutation or failure (%d, %d); %d ended by the relay after 1.5 s without traffic\n",
      runs, runsPerVersion[1, default: 0], runsPerVersion[2, default: 0], seconds, Double(runs) / max(seconds, 0.001),
      violations.count, cleanRuns.values.reduce(0, +), cleanRuns[1, default: 0], cleanRuns[2, default: 0], idleEnded)
    func column(_ text: String, _ width: Int) -> String { text.padding(toLength: width, withPad: " ", startingAt: 0) }
    text += "mutations (applied / planned):         version 1   version 2\n"
    for kind in MutationKind.allCases.sorted() {
      text += "  " + column(kind.rawValue, 36)
      for version in versions {
        let counts = "\(applied[version]?[kind] ?? 0) / \(planned[version]?[kind] ?? 0)"
        text += String(repeating: " ", count: max(1, 12 - counts.count)) + counts
      }
      text += "\n"
    }
    text += "outcomes (per tool run):               version 1   version 2\n"
    let names = Set(outcomes.values.flatMap(\.keys)).sorted()
    for name in names {
      text += "  " + column(name, 36)
      for version in versions {
        let count = String(outcomes[version]?[name] ?? 0)
        text += String(repeating: " ", count: max(1, 12 - count.count)) + count
      }
      text += "\n"
    }
    return text
  }
}

/// Runs many `HostileRun`s, `jobs` at a time, from one poll loop.
final class HostileSoak {
  let directory: String
  /// What the sides of a run authenticate with, by the run's protocol version.
  let credentials: [Int: LiveSession.Credentials]
  let jobs: Int
  /// The relay gives up on a connection where nothing moved for this long (like a middlebox),
  /// so that mutations that leave both sides waiting (a dropped hello) end quickly.
  let idleLimit = 1.5
  let runDeadline = 40.0

  init(directory: String, credentials: [Int: LiveSession.Credentials], jobs: Int) {
    self.directory = directory
    self.credentials = credentials
    self.jobs = jobs
  }

  func run(seeds: [UInt64]) throws -> SoakReport {
    var report = SoakReport()
    let started = StreamRelay.now()
    let loop = PeerLoop()
    // A first, unmutated session of each version (seed 0 runs version 1, seed 1 version 2): a
    // control, and the source of units "from another session" with the same credentials.
    let controls = [0, 1].map { HostileRun(plan: RunPlan(seed: $0, mutating: false), foreign: [[:], [:]]) }
    try runAll(count: 2, { controls[$0] }, loop: loop, report: &report, controlRun: true)
    let foreign = Dictionary(uniqueKeysWithValues: controls.map { ($0.plan.version, $0.context.seen) })
    // Made as they start, so that a finished run's bytes are freed.
    try runAll(
      count: seeds.count,
      {
        let plan = RunPlan(seed: seeds[$0])
        return HostileRun(plan: plan, foreign: foreign[plan.version]!)
      }, loop: loop, report: &report, controlRun: false)
    report.seconds = StreamRelay.now() - started
    return report
  }

  private func runAll(
    count: Int, _ make: (Int) -> HostileRun, loop: PeerLoop, report: inout SoakReport, controlRun: Bool
  ) throws {
    let started = StreamRelay.now()
    var next = 0
    var active: [(LiveSession, HostileRun)] = []
    var finished: [(LiveSession, HostileRun)] = []
    while next < count || !active.isEmpty {
      while active.count < jobs && next < count {
        let run = make(next)
        let session = try LiveSession(
          loop: loop, directory: directory, prefix: "r\(next)-", credentials: credentials[run.plan.version]!,
          editors: (toBob: run.editors[0], toAlice: run.editors[1]),
          output: { side, chunk in
            if let chunk { run.outputs[side.name == "alice" ? 0 : 1] += chunk }
          },
          input: { side in
            var bytes: [UInt8]? = Array((side.name == "alice" ? run.plan.aliceLines : run.plan.bobLines).joined().utf8)
            return {
              defer { bytes = nil }
              return bytes
            }
          },
          onDone: { session in finished.append((session, run)) })
        run.deadline = StreamRelay.now() + runDeadline
        active.append((session, run))
        next += 1
      }
      loop.runOnce(timeout: 5)
      let now = StreamRelay.now()
      for (session, run) in active {
        session.enforce(deadline: run.deadline)
        if let relay = session.relay, !relay.isFinished, !run.idleEnded, !relay.isHolding,
          now - relay.lastActivity > idleLimit
        {
          run.idleEnded = true
          relay.endGracefully()
        }
        session.checkDone()
      }
      if !finished.isEmpty {
        for (session, run) in finished {
          for side in [session.alice, session.bob] {
            run.sessionFiles[side.sessionPath] = access(side.sessionPath, F_OK) == 0
            unlink(side.sessionPath)
          }
          record(session, run, report: &report, controlRun: controlRun)
          if count >= 10_000 && report.runs % 5000 == 0 {
            let seconds = StreamRelay.now() - started
            print(
              String(
                format: "hostile relay: %d of %d runs, %.0f s, %.1f runs/s, %d violations so far", report.runs,
                count + 2, seconds, Double(report.runs) / seconds, report.violations.count))
            fflush(nil)
          }
        }
        let done = Set(finished.map { ObjectIdentifier($0.0) })
        active.removeAll { done.contains(ObjectIdentifier($0.0)) }
        finished = []
      }
    }
  }

  private func record(_ session: LiveSession, _ run: HostileRun, report: inout SoakReport, controlRun: Bool) {
    let version = run.plan.version
    report.runs += 1
    report.runsPerVersion[version, default: 0] += 1
    if run.idleEnded { report.idleEnded += 1 }
    for mutation in run.plan.mutations { report.planned[version, default: [:]][mutation.kind, default: 0] += 1 }
    var applied = 0
    for editor in run.editors {
      for (kind, count) in editor.applied {
        report.applied[version, default: [:]][kind, default: 0] += count
        applied += count
      }
    }
    var problems = run.check(session, killed: session.killed, report: &report)
    let clean = [session.alice, session.bob].allSatisfy { (side: LiveSession.Side) -> Bool in
      side.handshakeStatus == 0 && side.openStatus == 0 && side.sealStatus == 0
    }
    if applied == 0 && !run.idleEnded && !clean {
      problems.append("no mutation was applied, yet the session failed")
    }
    if applied == 0 && clean { report.cleanRuns[version, default: 0] += 1 }
    // (A relay that gave up on an idle connection is a cut, which the invariants cover.)
    if controlRun && !clean && !run.idleEnded { problems.append("the unmutated control session failed") }
    guard !problems.isEmpty else { return }
    let seed = "0x" + String(run.plan.seed, radix: 16)
    let mutations = run.plan.mutations.map(\.description).joined(separator: ", ")
    report.violations.append(
      "run seed \(seed) (version \(version)) [\(mutations.isEmpty ? "no mutation" : mutations)]"
        + "\(run.idleEnded ? " (relay idle end)" : ""): " + problems.joined(separator: "; "))
  }
}
