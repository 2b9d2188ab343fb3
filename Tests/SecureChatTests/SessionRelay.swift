import Foundation
import SecureChatCrypto

#if canImport(Glibc)
  import Glibc
#endif

// The in-process relay between two live peers, shared by SessionProcessTests (one chosen edit
// per test) and HostileRelayTests (seeded random edits, many sessions at once).

// MARK: - Splitting a direction into messages and frames

/// Splits one direction of a session, as an honest peer sends it, into its units: its handshake
/// messages (3-byte header with a big-endian u16 body length, docs/PROTOCOL.md §3.1; two in
/// version 1, three in version 2, §11.1), then frames (68 + L bytes, L a big-endian u32 at
/// offset 12, docs/FORMATS.md §2). An abort message or anything else it cannot parse ends the
/// parsing: from there on every byte is `other`.
struct SessionUnitSplitter {
  enum Unit {
    case handshake(index: Int, bytes: [UInt8])
    case frame(index: Int, bytes: [UInt8], isFinal: Bool)
    /// Bytes that are not a message or a frame (an abort message and whatever follows it).
    case other([UInt8])
  }

  /// Handshake messages each side sends: 2 in version 1, 3 in version 2.
  let handshakeMessages: Int
  /// The message types of the version: each side sends one of every other type, 1 to
  /// 2 × `handshakeMessages` in all (0x05 and 0x06 are unknown to version 1).
  private let messageTypes: ClosedRange<UInt8>
  private var buffer: [UInt8] = []
  private var start = 0
  private var passThrough = false
  /// Handshake messages and frames returned so far.
  private(set) var messages = 0
  private(set) var frames = 0

  init(handshakeMessages: Int = 2) {
    self.handshakeMessages = handshakeMessages
    messageTypes = 1...UInt8(2 * handshakeMessages)
  }

  mutating func append(_ bytes: ArraySlice<UInt8>) { buffer += bytes }

  /// The next complete unit, or nil until more bytes arrive.
  mutating func next() -> Unit? {
    defer { compact() }
    let available = buffer.count - start
    if passThrough {
      guard available > 0 else { return nil }
      let rest = Array(buffer[start...])
      start = buffer.count
      return .other(rest)
    }
    if messages < handshakeMessages {
      guard available >= 3 else { return nil }
      guard messageTypes.contains(buffer[start]) else {
        passThrough = true  // an abort message or something else: not ours to parse
        return next()
      }
      let length = 3 + (Int(buffer[start + 1]) << 8 | Int(buffer[start + 2]))
      guard available >= length else { return nil }
      let message = Array(buffer[start..<(start + length)])
      start += length
      messages += 1
      return .handshake(index: messages - 1, bytes: message)
    }
    guard available >= 16 else { return nil }
    let length = (12..<16).reduce(0) { $0 << 8 | Int(buffer[start + $1]) }
    guard length >= 16 && length <= 65552 && length % 16 == 0 else {
      passThrough = true
      return next()
    }
    guard available >= 68 + length else { return nil }
    let frame = Array(buffer[start..<(start + 68 + length)])
    start += 68 + length
    frames += 1
    return .frame(index: frames - 1, bytes: frame, isFinal: frame[2] & 1 != 0)
  }

  /// The bytes not yet returned (an incomplete unit at the end of the stream); empties the buffer.
  mutating func remainder() -> [UInt8] {
    let rest = Array(buffer[start...])
    buffer = []
    start = 0
    return rest
  }

  private mutating func compact() {
    if start > 1 << 16 || start == buffer.count {
      buffer.removeFirst(start)
      start = 0
    }
  }
}

// MARK: - Editors

/// What the relay asks of the editor of one direction.
protocol RelayEditor: AnyObject {
  /// The bytes to send now for `bytes` received.
  func feed(_ bytes: ArraySlice<UInt8>) -> [UInt8]
  /// The bytes to send when the input ends.
  func finish() -> [UInt8]
  /// Bytes that became ready to send since the last call (held back or injected ones).
  func takeInjected() -> [UInt8]
  /// Set when the stream must be ended (the relay ends its sink once the output is written).
  var ended: Bool { get }
  /// True while the editor still holds bytes it will send later: the sink stays open.
  var holding: Bool { get }
}

/// Rewrites one direction of a session: applies at most one edit to the units of
/// `SessionUnitSplitter`; anything it cannot parse is passed on unchanged.
final class StreamEditor: RelayEditor {
  enum FrameField: CustomStringConvertible {
    case finalFlag, sequence, iv, ciphertext, tag, crc

    func offset(ciphertextLength: Int) -> Int {
      switch self {
      case .finalFlag: return 2
      case .sequence: return 11  // the low byte of the u64 at 4
      case .iv: return 16 + 5
      case .ciphertext: return 32 + 3
      case .tag: return 32 + ciphertextLength + 7
      case .crc: return 64 + ciphertextLength + 1
      }
    }

    var description: String {
      switch self {
      case .finalFlag: return "flags"
      case .sequence: return "sequence number"
      case .iv: return "IV"
      case .ciphertext: return "ciphertext"
      case .tag: return "tag"
      case .crc: return "CRC"
      }
    }
  }

  enum FrameAction {
    /// Flips one bit of frame N (0-based, in this direction), recomputing the CRC if asked.
    case flip(frame: Int, field: FrameField, fixCRC: Bool)
    case drop(frame: Int)
    case duplicate(frame: Int)
    /// Sends frame N + 1 before frame N.
    case swapWithNext(frame: Int)
    /// Ends the stream before frame N.
    case cutBefore(frame: Int)
    /// Ends the stream after the first `keeping` bytes of frame N.
    case cutInside(frame: Int, keeping: Int)
    /// Drops frame N and every frame after it (the stream still ends when its source ends).
    case dropFrom(frame: Int)
  }

  /// (message index in this direction, 0 or 1; offset in the message, negative from its end).
  var handshakeFlip: (message: Int, offset: Int)?
  /// Ends the stream after the first `keeping` bytes of handshake message N of this direction.
  var handshakeCut: (message: Int, keeping: Int)?
  var frameAction: FrameAction?
  /// Sent right after the second handshake message of this direction, in the same chunk; then
  /// the stream is ended.
  var trailerAfterHandshake: [UInt8]?
  /// Holds the second handshake message and everything after it until a final frame has been
  /// parsed, then releases it all as one chunk.
  var holdLastMessageUntilFinalFrame = false
  /// Copies frames from number `fromFrame` on (they still go their way too) to `to`, which
  /// sends them on its own direction once it has passed as many frames of its own.
  var mirror: (to: StreamEditor, fromFrame: Int)?
  private var injected: [UInt8] = []
  private var injectAfterFrames = 0
  private(set) var mirroredFrames = 0

  private(set) var flipsDone = 0
  private(set) var cutsDone = 0
  private(set) var frameEditsDone = 0
  private(set) var releasedInOneChunk = false
  private(set) var heldBytes = 0
  private(set) var ended = false
  var holding: Bool { false }

  private var splitter = SessionUnitSplitter()
  private var swapped: [UInt8]?
  private var held: [UInt8]?

  func feed(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
    guard !ended else { return [] }
    splitter.append(bytes)
    var out: [UInt8] = []
    while !ended, let unit = splitter.next() {
      switch unit {
      case .other(let bytes):
        emit(bytes, isFinalFrame: false, into: &out)
      case .handshake(let index, var message):
        if let cut = handshakeCut, cut.message == index {
          out += message[0..<cut.keeping]
          cutsDone += 1
          ended = true
          continue
        }
        if let flip = handshakeFlip, flip.message == index {
          message[flip.offset >= 0 ? flip.offset : message.count + flip.offset] ^= 0x01
          flipsDone += 1
        }
        if holdLastMessageUntilFinalFrame && index == 1 { held = [] }
        emit(message, isFinalFrame: false, into: &out)
        if index == 1, let trailer = trailerAfterHandshake {
          out += trailer
          ended = true
        }
      case .frame(let index, var frame, let isFinal):
        edit(&frame, index: index, isFinal: isFinal, into: &out)
      }
    }
    return out
  }

  private func edit(_ frame: inout [UInt8], index: Int, isFinal: Bool, into out: inout [UInt8]) {
    let length = frame.count - 68
    if let mirror, index >= mirror.fromFrame {
      mirror.to.injected += frame
      mirror.to.injectAfterFrames = mirror.fromFrame
      mirroredFrames += 1
    }
    switch frameAction {
    case .flip(let target, let field, let fixCRC) where target == index:
      frame[field.offset(ciphertextLength: length)] ^= 0x01
      if fixCRC && field != .crc { SessionUnits.fixCRC(&frame) }
      frameEditsDone += 1
      emit(frame, isFinalFrame: isFinal, into: &out)
    case .drop(let target) where target == index:
      frameEditsDone += 1
    case .duplicate(let target) where target == index:
      frameEditsDone += 1
      emit(frame, isFinalFrame: false, into: &out)
      emit(frame, isFinalFrame: isFinal, into: &out)
    case .swapWithNext(let target) where target == index:
      swapped = frame
    case .swapWithNext(let target) where target + 1 == index && swapped != nil:
      frameEditsDone += 1
      emit(frame, isFinalFrame: false, into: &out)
      emit(swapped!, isFinalFrame: isFinal, into: &out)
      swapped = nil
    case .cutBefore(let target) where target == index:
      frameEditsDone += 1
      ended = true
    case .cutInside(let target, let keeping) where target == index:
      frameEditsDone += 1
      out += frame[0..<keeping]
      ended = true
    case .dropFrom(let target) where index >= target:
      if index == target { frameEditsDone += 1 }
    default:
      emit(frame, isFinalFrame: isFinal, into: &out)
    }
  }

  /// Bytes from another direction (`mirror`) to send now on this one, after this direction's
  /// own frames before them.
  func takeInjected() -> [UInt8] {
    guard splitter.frames >= injectAfterFrames, !injected.isEmpty else { return [] }
    defer { injected = [] }
    return injected
  }

  /// Whatever could not be parsed, unchanged.
  func finish() -> [UInt8] {
    guard !ended else { return [] }
    var out = splitter.remainder()
    if let frame = swapped { out = frame + out }
    if let held { out = held + out }
    ended = true
    return out
  }

  private func emit(_ bytes: [UInt8], isFinalFrame: Bool, into out: inout [UInt8]) {
    guard held != nil else {
      out += bytes
      return
    }
    held! += bytes
    if isFinalFrame {
      heldBytes = held!.count
      releasedInOneChunk = out.isEmpty
      out += held!
      held = nil
    }
  }
}

/// Helpers on the bytes of frames (docs/FORMATS.md §2.1).
enum SessionUnits {
  /// Recomputes the CRC-32 at the end of a frame over everything before it.
  static func fixCRC(_ frame: inout [UInt8]) {
    let body = frame.count - 4
    let crc = frame.withUnsafeBytes { CRC32.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<body])) }
    for byte in 0..<4 { frame[body + byte] = UInt8(truncatingIfNeeded: crc >> (24 - 8 * byte)) }
  }
}

// MARK: - The relay

/// One direction of the relay.
final class RelayDirection {
  var source: Int32
  var sink: Int32
  let editor: RelayEditor
  var pending: [UInt8] = []
  var written = 0
  var closeWhenFlushed = false
  /// Bytes written to the sink so far (in order: they are a prefix of what the editor released).
  private(set) var delivered = 0
  /// After `StreamRelay.endGracefully()`: what the source sends is read and thrown away.
  var discarding = false

  init(source: Int32, sink: Int32, editor: RelayEditor) {
    self.source = source
    self.sink = sink
    self.editor = editor
  }

  fileprivate func didWrite(_ count: Int) { delivered += count }
}

/// Copies bytes between descriptors with poll(2), non-blocking, through each direction's editor.
/// Each direction ends when its source ends (or its editor ends it) and its output is written;
/// a sink that is gone (EPIPE, ECONNRESET) is dropped while its source is still drained.
///
/// The descriptors may be pipes (one per direction end) or sockets (a socket is the sink of one
/// direction and the source of the other): a socket's direction is ended with
/// shutdown(SHUT_WR), which the peer reads as end of input, and the socket is closed once both of
/// its directions are done. A source is only closed after it has reached end of input, so the
/// relay never resets a connection that still has data for it.
///
/// `run(until:)` serves one relay; a caller that serves many at once (HostileRelayTests) calls
/// `tick()`, `pollRequests()` and `handle(_:)` from its own poll loop.
final class StreamRelay {
  let directions: [RelayDirection]
  /// How many direction ends still use each descriptor.
  private var users: [Int32: Int] = [:]
  private var sockets: Set<Int32> = []
  /// When a byte was last read or written (CLOCK_MONOTONIC seconds).
  private(set) var lastActivity = StreamRelay.now()
  private var buffer = [UInt8](repeating: 0, count: 1 << 16)

  init(directions: [RelayDirection]) {
    self.directions = directions
    for direction in directions {
      for fd in [direction.source, direction.sink] {
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        users[fd, default: 0] += 1
        var info = stat()
        if fstat(fd, &info) == 0 && info.st_mode & S_IFMT == S_IFSOCK { sockets.insert(fd) }
      }
    }
  }

  static func now() -> Double {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
  }

  var isFinished: Bool { directions.allSatisfy { $0.source < 0 && $0.sink < 0 } }

  /// Whether an editor holds bytes back for later (the caller should poll with a short timeout).
  var isHolding: Bool { directions.contains { $0.sink >= 0 && $0.editor.holding } }

  /// Returns false if the deadline passed first. Closes every descriptor it was given.
  func run(until deadline: Date) -> Bool {
    defer { closeAll() }
    while true {
      tick()
      var fds = pollRequests()
      if fds.isEmpty && isFinished { return true }
      let remaining = deadline.timeIntervalSinceNow
      if remaining <= 0 { return false }
      let wait = isHolding ? min(remaining, 0.005) : min(remaining, 0.2)
      let ready = poll(&fds, nfds_t(fds.count), Int32(wait * 1000) + 1)
      if ready < 0 && errno != EINTR { return false }
      if ready > 0 { handle(fds[...]) }
    }
  }

  /// Delivers what editors release by themselves and ends the sinks that are done.
  func tick() {
    for direction in directions {
      // Frames another direction's editor copied here (reflection), or bytes held back.
      deliver(direction.editor.takeInjected(), to: direction)
    }
    for direction in directions where direction.sink >= 0 {
      if direction.editor.ended { direction.closeWhenFlushed = true }
      if direction.closeWhenFlushed && direction.written == direction.pending.count && !direction.editor.holding {
        endSink(direction, peerGone: false)
      }
    }
  }

  /// The descriptors to poll, in an order that `handle` expects back.
  func pollRequests() -> [pollfd] {
    var fds: [pollfd] = []
    for direction in directions {
      if direction.source >= 0 { fds.append(pollfd(fd: direction.source, events: Int16(POLLIN), revents: 0)) }
      if direction.sink >= 0 && direction.written < direction.pending.count {
        fds.append(pollfd(fd: direction.sink, events: Int16(POLLOUT), revents: 0))
      }
    }
    return fds
  }

  /// Handles the poll results for the array `pollRequests()` returned.
  func handle(_ results: ArraySlice<pollfd>) {
    var index = results.startIndex
    // The same walk as pollRequests, so each entry finds its owner.
    var owners: [(RelayDirection, isSource: Bool)] = []
    for direction in directions {
      if direction.source >= 0 { owners.append((direction, true)) }
      if direction.sink >= 0 && direction.written < direction.pending.count { owners.append((direction, false)) }
    }
    for (direction, isSource) in owners {
      guard index < results.endIndex else { break }
      let entry = results[index]
      index += 1
      guard entry.revents != 0 else { continue }
      if isSource {
        guard direction.source == entry.fd else { continue }
        let count = buffer.withUnsafeMutableBytes { read(direction.source, $0.baseAddress!, $0.count) }
        if count > 0 {
          lastActivity = StreamRelay.now()
          if !direction.discarding { deliver(direction.editor.feed(buffer[0..<count]), to: direction) }
        } else if count == 0 || (errno != EAGAIN && errno != EINTR) {
          // End of input, or a reset connection (ECONNRESET): the source is done either way.
          release(direction.source)
          direction.source = -1
          if !direction.discarding { deliver(direction.editor.finish(), to: direction) }
          direction.closeWhenFlushed = true
        }
      } else {
        guard direction.sink == entry.fd else { continue }
        let count = direction.pending.withUnsafeBytes {
          write(direction.sink, $0.baseAddress! + direction.written, $0.count - direction.written)
        }
        if count > 0 {
          lastActivity = StreamRelay.now()
          direction.written += count
          direction.didWrite(count)
          if direction.written == direction.pending.count {
            direction.pending.removeAll(keepingCapacity: true)
            direction.written = 0
          }
        } else if count < 0 && errno != EAGAIN && errno != EINTR {
          // The reader is gone: drop what is pending and what comes later.
          endSink(direction, peerGone: true)
        }
      }
    }
  }

  /// Like a middlebox that gives up on the connection: drops what is not yet written, ends
  /// every sink (the peers read end of input) and from then on drains the sources without
  /// forwarding anything, until they end.
  func endGracefully() {
    for direction in directions {
      direction.discarding = true
      if direction.sink >= 0 { endSink(direction, peerGone: false) }
    }
  }

  /// Closes every descriptor at once (a deadline passed).
  func closeAll() {
    for direction in directions {
      if direction.source >= 0 { release(direction.source) }
      if direction.sink >= 0 { release(direction.sink) }
      direction.source = -1
      direction.sink = -1
    }
  }

  private func endSink(_ direction: RelayDirection, peerGone: Bool) {
    if !peerGone && sockets.contains(direction.sink) { shutdown(direction.sink, Int32(SHUT_WR)) }
    release(direction.sink)
    direction.sink = -1
    direction.pending = []
    direction.written = 0
  }

  private func release(_ fd: Int32) {
    users[fd, default: 1] -= 1
    if users[fd]! <= 0 {
      users[fd] = nil
      close(fd)
    }
  }

  private func deliver(_ bytes: [UInt8], to direction: RelayDirection) {
    guard direction.sink >= 0, !bytes.isEmpty else { return }
    direction.pending += bytes
  }
}
