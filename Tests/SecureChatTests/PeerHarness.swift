import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

// Many live sessions at once, from one thread: each session is sc-handshake, then sc-open and
// sc-seal, on each side, over 127.0.0.1 TCP, optionally through a `StreamRelay`. One poll loop
// (`PeerLoop`) serves every relay, feeds every sc-seal its messages, reads every sc-open's
// output and every tool's standard error, and reaps the tools. Used by HostileRelayTests (thousands of short sessions through a hostile relay) and
// LoadTests (hundreds of long sessions at once).

// MARK: - Descriptors and processes

enum Loopback {
  /// One listener on 127.0.0.1 for the whole test run; each connection is accepted at once.
  nonisolated(unsafe) private static var listener: Int32 = -1
  nonisolated(unsafe) private static var address = sockaddr_in()

  /// 127.0.0.1:`port` (0: any port).
  static func address(port: UInt16) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return address
  }

  /// A new close-on-exec socket listening on 127.0.0.1 on a port the kernel chose, and its address.
  static func listeningSocket(backlog: Int32) throws -> (fd: Int32, address: sockaddr_in) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw ToolRunnerError(description: "socket: \(String(cString: strerror(errno)))") }
    _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
    var bound = address(port: 0)
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &bound) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
      }
    }
    guard ok, listen(fd, backlog) == 0 else {
      close(fd)
      throw ToolRunnerError(description: "cannot listen on 127.0.0.1: \(String(cString: strerror(errno)))")
    }
    return (fd, bound)
  }

  /// Two ends of a new TCP connection over 127.0.0.1, close-on-exec.
  static func tcpPair() throws -> (Int32, Int32) {
    if listener < 0 {
      (listener, address) = try listeningSocket(backlog: 512)
    }
    let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard client >= 0 else { throw ToolRunnerError(description: "socket: \(String(cString: strerror(errno)))") }
    _ = fcntl(client, F_SETFD, FD_CLOEXEC)
    var target = address
    let connected = withUnsafePointer(to: &target) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        connect(client, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
    guard connected == 0 else {
      close(client)
      throw ToolRunnerError(description: "connect to 127.0.0.1: \(String(cString: strerror(errno)))")
    }
    let server = accept(listener, nil, nil)
    guard server >= 0 else {
      close(client)
      throw ToolRunnerError(description: "accept: \(String(cString: strerror(errno)))")
    }
    _ = fcntl(server, F_SETFD, FD_CLOEXEC)
    return (client, server)
  }
}

/// A pipe whose two ends are close-on-exec (so that no child holds an end it was not given).
func closeOnExecPipe() throws -> (read: Int32, write: Int32) {
  var fds: [Int32] = [-1, -1]
  guard pipe(&fds) == 0 else { throw ToolRunnerError(description: "pipe: \(String(cString: strerror(errno)))") }
  for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
  return (fds[0], fds[1])
}

/// Starts `argv[0]` with `descriptors` (child descriptor number: this process's descriptor)
/// and nothing else open but what is not close-on-exec here; SIGPIPE at its default action.
func spawnTool(_ argv: [String], descriptors: [Int32: Int32]) throws -> pid_t {
  var actions = posix_spawn_file_actions_t()
  posix_spawn_file_actions_init(&actions)
  defer { posix_spawn_file_actions_destroy(&actions) }
  for (child, parent) in descriptors.sorted(by: { $0.key < $1.key }) {
    posix_spawn_file_actions_adddup2(&actions, parent, child)
  }
  var attributes = posix_spawnattr_t()
  posix_spawnattr_init(&attributes)
  defer { posix_spawnattr_destroy(&attributes) }
  ToolRunner.restoreSignals(&attributes)
  let arguments: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
  defer { for pointer in arguments { free(pointer) } }
  var pid: pid_t = 0
  let status = posix_spawn(&pid, argv[0], &actions, &attributes, arguments, environ)
  guard status == 0 else {
    throw ToolRunnerError(description: "cannot run \(argv[0]): \(String(cString: strerror(status)))")
  }
  return pid
}

// MARK: - The loop

/// One thread's poll loop over pipes, relays and child processes.
final class PeerLoop {
  private final class Writer {
    var pending: [UInt8] = []
    var offset = 0
    let more: () -> [UInt8]?
    init(more: @escaping () -> [UInt8]?) { self.more = more }
  }

  private var readers: [Int32: (ArraySlice<UInt8>?) -> Void] = [:]
  private var writers: [Int32: Writer] = [:]
  private var children: [pid_t: (_ status: Int32) -> Void] = [:]
  private var relays: [ObjectIdentifier: StreamRelay] = [:]
  private var buffer = [UInt8](repeating: 0, count: 1 << 16)

  init() {
    // A peer that is gone must be an EPIPE for the relay and the feeders, not a SIGPIPE.
    signal(SIGPIPE, SIG_IGN)
  }

  var liveChildren: [pid_t] { Array(children.keys) }

  /// Calls `handler` with each chunk read from `fd`, then with nil at end of input; closes `fd`.
  func read(_ fd: Int32, _ handler: @escaping (ArraySlice<UInt8>?) -> Void) {
    _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    readers[fd] = handler
  }

  /// Writes the chunks `more` returns to `fd` until it returns nil, then closes `fd`; an empty
  /// chunk means "nothing yet". A reader that is gone (EPIPE) ends the writing.
  func write(_ fd: Int32, _ more: @escaping () -> [UInt8]?) {
    _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    writers[fd] = Writer(more: more)
  }

  /// Calls `handler` with the child's status (128 + N if killed by signal N) once it has exited.
  /// (Not its ru_maxrss: a child made by posix_spawn shares this process's memory until it
  /// execs, and Linux counts that memory in the child's peak; LoadTests reads VmHWM instead.)
  func watch(_ pid: pid_t, _ handler: @escaping (_ status: Int32) -> Void) {
    children[pid] = handler
  }

  func add(_ relay: StreamRelay) { relays[ObjectIdentifier(relay)] = relay }

  func remove(_ relay: StreamRelay) { relays[ObjectIdentifier(relay)] = nil }

  var isIdle: Bool { readers.isEmpty && writers.isEmpty && children.isEmpty && relays.isEmpty }

  /// One round: reap, poll (at most `timeout` ms), read, write, relay.
  func runOnce(timeout: Int32) {
    reap()
    var fds: [pollfd] = []
    var relayRanges: [(StreamRelay, Range<Int>)] = []
    var holding = false
    for relay in relays.values {
      relay.tick()
      let requests = relay.pollRequests()
      relayRanges.append((relay, fds.count..<(fds.count + requests.count)))
      fds += requests
      holding = holding || relay.isHolding
    }
    let firstReader = fds.count
    let readerFDs = Array(readers.keys)
    for fd in readerFDs { fds.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
    let firstWriter = fds.count
    var writerFDs: [Int32] = []
    for (fd, writer) in writers {
      if writer.offset == writer.pending.count {
        if let next = writer.more() {
          writer.pending = next
          writer.offset = 0
          if next.isEmpty { continue }  // nothing to write yet: ask again next round
        } else {
          close(fd)
          writers[fd] = nil
          continue
        }
      }
      writerFDs.append(fd)
      fds.append(pollfd(fd: fd, events: Int16(POLLOUT), revents: 0))
    }
    let ready = poll(&fds, nfds_t(fds.count), holding ? min(timeout, 2) : timeout)
    guard ready > 0 else { return }
    for (relay, range) in relayRanges { relay.handle(fds[range]) }
    for (offset, fd) in readerFDs.enumerated() where fds[firstReader + offset].revents != 0 {
      let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
      if count > 0 {
        readers[fd]?(buffer[0..<count])
      } else if count == 0 || (errno != EAGAIN && errno != EINTR) {
        let handler = readers.removeValue(forKey: fd)
        close(fd)
        handler?(nil)
      }
    }
    for (offset, fd) in writerFDs.enumerated() where fds[firstWriter + offset].revents != 0 {
      guard let writer = writers[fd] else { continue }
      let count = writer.pending.withUnsafeBytes {
        Glibc.write(fd, $0.baseAddress! + writer.offset, $0.count - writer.offset)
      }
      if count > 0 {
        writer.offset += count
      } else if count < 0 && errno != EAGAIN && errno != EINTR {
        close(fd)
        writers[fd] = nil
      }
    }
  }

  private func reap() {
    guard !children.isEmpty else { return }
    while true {
      var status: Int32 = 0
      let pid = waitpid(-1, &status, WNOHANG)
      guard pid > 0 else { return }
      guard let handler = children.removeValue(forKey: pid) else { continue }
      let signalNumber = status & 0x7f
      handler(signalNumber == 0 ? (status >> 8) & 0xff : 128 + signalNumber)
    }
  }
}

// MARK: - One session

/// A session between alice (initiator) and bob (responder): on each side sc-handshake, then,
/// if it succeeded, sc-open (its output read by the loop) and sc-seal (its messages written by
/// the loop) on the same connection. The two sides are connected directly by one TCP
/// connection, or each to a relay by its own.
final class LiveSession {
  /// An identity file made by `sc-keygen --identity` and the public key it printed.
  struct Identity {
    let path: String
    let publicKey: String

    /// Makes `path` with sc-keygen --identity.
    static func make(_ path: String) throws -> Identity {
      let result = try ToolRunner.run("sc-keygen", ["--identity", "-o", path])
      let key = String(decoding: result.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
      guard result.status == 0, key.hasPrefix("scpub1") else {
        throw ToolRunnerError(description: "sc-keygen --identity failed: \(result.stderr)")
      }
      return Identity(path: path, publicKey: key)
    }
  }

  /// How the two sides authenticate each other.
  enum Credentials {
    /// Version 1 (docs/PROTOCOL.md §3): both hold the pre-shared key in this file (`-k`).
    case preSharedKey(String)
    /// Version 2 (§11): each side its own identity (`-i`) and the other's public key
    /// (`--peer-key`).
    case identities(alice: Identity, bob: Identity)

    /// The protocol version the sides run.
    var version: Int {
      switch self {
      case .preSharedKey: return 1
      case .identities: return 2
      }
    }
  }

  final class Side {
    let name: String
    let role: String
    let sessionPath: String
    /// This process's copy of the side's end of its connection, until the tools have it.
    var connection: Int32 = -1
    var handshakeStatus: Int32?
    var openStatus: Int32?
    var sealStatus: Int32?
    var handshakeError: [UInt8] = []
    var openError: [UInt8] = []
    var sealError: [UInt8] = []
    /// Whether sc-open and sc-seal were started.
    var streamed = false
    /// The tool each process of this side runs.
    var tools: [pid_t: String] = [:]
    /// Live tool processes.
    var live: Set<pid_t> = []
    /// Open output and error pipes of this side.
    var openPipes = 0

    init(name: String, role: String, sessionPath: String) {
      self.name = name
      self.role = role
      self.sessionPath = sessionPath
    }

    func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
  }

  let alice: Side
  let bob: Side
  let relay: StreamRelay?
  let credentials: Credentials
  let handshakeTimeout: Int
  let startTime = StreamRelay.now()
  /// Set when the deadline passed and the remaining tools were killed.
  private(set) var killed = false
  private(set) var done = false

  private unowned let loop: PeerLoop
  private let output: (Side, ArraySlice<UInt8>?) -> Void
  private let input: (Side) -> () -> [UInt8]?
  private var onDone: ((LiveSession) -> Void)?

  /// `output` gets each chunk of a side's sc-open output and nil at its end; `input` makes the
  /// source of a side's sc-seal input. `editors` (toBob, toAlice) put a relay in between.
  init(
    loop: PeerLoop, directory: String, prefix: String, credentials: Credentials, handshakeTimeout: Int = 10,
    editors: (toBob: RelayEditor, toAlice: RelayEditor)?,
    output: @escaping (Side, ArraySlice<UInt8>?) -> Void, input: @escaping (Side) -> () -> [UInt8]?,
    onDone: @escaping (LiveSession) -> Void
  ) throws {
    self.loop = loop
    self.credentials = credentials
    self.handshakeTimeout = handshakeTimeout
    self.output = output
    self.input = input
    self.onDone = onDone
    alice = Side(name: "alice", role: "initiator", sessionPath: "\(directory)/\(prefix)alice.session")
    bob = Side(name: "bob", role: "responder", sessionPath: "\(directory)/\(prefix)bob.session")
    if let editors {
      let (aliceEnd, relayToAlice) = try Loopback.tcpPair()
      let (bobEnd, relayToBob) = try Loopback.tcpPair()
      alice.connection = aliceEnd
      bob.connection = bobEnd
      relay = StreamRelay(directions: [
        RelayDirection(source: relayToAlice, sink: relayToBob, editor: editors.toBob),
        RelayDirection(source: relayToBob, sink: relayToAlice, editor: editors.toAlice),
      ])
      loop.add(relay!)
    } else {
      let (aliceEnd, bobEnd) = try Loopback.tcpPair()
      alice.connection = aliceEnd
      bob.connection = bobEnd
      relay = nil
    }
    for side in [alice, bob] { try startHandshake(side) }
  }

  private func errorPipe(_ side: Side, into keyPath: ReferenceWritableKeyPath<Side, [UInt8]>) throws -> Int32 {
    let pipe = try closeOnExecPipe()
    side.openPipes += 1
    loop.read(pipe.read) { [unowned self] chunk in
      if let chunk {
        side[keyPath: keyPath] += chunk
      } else {
        side.openPipes -= 1
        self.checkDone()
      }
    }
    return pipe.write
  }

  private func startHandshake(_ side: Side) throws {
    let stderr = try errorPipe(side, into: \.handshakeError)
    defer { close(stderr) }
    let authentication: [String]
    switch credentials {
    case .preSharedKey(let keyPath): authentication = ["-k", keyPath]
    case .identities(let alice, let bob):
      let (own, peer) = side === self.alice ? (alice, bob) : (bob, alice)
      authentication = ["-i", own.path, "--peer-key", peer.publicKey]
    }
    let pid = try spawnTool(
      [try ToolRunner.path(of: "sc-handshake"), "--" + side.role] + authentication + [
        "-n", side.name, "-o", side.sessionPath, "--timeout", String(handshakeTimeout),
      ], descriptors: [0: side.connection, 1: side.connection, 2: stderr])
    track(pid, side, "sc-handshake") { side.handshakeStatus = $0 }
  }

  private func track(_ pid: pid_t, _ side: Side, _ tool: String, _ record: @escaping (Int32) -> Void) {
    side.live.insert(pid)
    side.tools[pid] = tool
    loop.watch(pid) { [unowned self] status in
      side.live.remove(pid)
      record(status)
      if side.handshakeStatus != nil && !side.streamed && side.connection >= 0 {
        if side.handshakeStatus == 0 && !self.killed {
          do { try self.startStream(side) } catch { side.openError += Array("harness: \(error)".utf8) }
        }
        close(side.connection)
        side.connection = -1
      }
      self.checkDone()
    }
  }

  private func startStream(_ side: Side) throws {
    side.streamed = true
    let out = try closeOnExecPipe()
    side.openPipes += 1
    loop.read(out.read) { [unowned self] chunk in
      self.output(side, chunk)
      if chunk == nil {
        side.openPipes -= 1
        self.checkDone()
      }
    }
    let openErr = try errorPipe(side, into: \.openError)
    let opener = try spawnTool(
      [try ToolRunner.path(of: "sc-open"), "-s", side.sessionPath],
      descriptors: [0: side.connection, 1: out.write, 2: openErr])
    close(out.write)
    close(openErr)
    track(opener, side, "sc-open") { side.openStatus = $0 }

    let messages = try closeOnExecPipe()
    let sealErr = try errorPipe(side, into: \.sealError)
    let sealer = try spawnTool(
      [try ToolRunner.path(of: "sc-seal"), "-s", side.sessionPath],
      descriptors: [0: messages.read, 1: side.connection, 2: sealErr])
    close(messages.read)
    close(sealErr)
    loop.write(messages.write, input(side))
    track(sealer, side, "sc-seal") { side.sealStatus = $0 }
  }

  /// Kills what is left if `deadline` (monotonic seconds) has passed.
  func enforce(deadline: Double) {
    guard !killed, !done, StreamRelay.now() > deadline else { return }
    killed = true
    for side in [alice, bob] {
      for pid in side.live { kill(pid, SIGKILL) }
    }
    if let relay {
      relay.closeAll()
      loop.remove(relay)
    }
  }

  var relayFinished: Bool { relay?.isFinished ?? true }

  /// Called by the owner's loop: finishes the session when everything has ended. The owner
  /// removes the session files.
  func checkDone() {
    guard !done else { return }
    if let relay, relay.isFinished { loop.remove(relay) }
    for side in [alice, bob] {
      guard side.live.isEmpty, side.openPipes == 0, side.connection < 0 else { return }
    }
    guard relayFinished else { return }
    done = true
    let handler = onDone
    onDone = nil
    handler?(self)
  }
}
