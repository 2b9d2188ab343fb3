import SecureChatCrypto
import SecureChatProtocol

#if canImport(Glibc)
  import Glibc
#endif

/// When a public log's writer adds a checkpoint (docs/FORMATS.md §9.8), and where it also sends
/// each checkpoint line (`--checkpoints-to`, an off-host copy for the auditor).
struct CheckpointPolicy {
  var entries = PublicLog.defaultCheckpointEntries
  var seconds = PublicLog.defaultCheckpointSeconds
  var copyTo: FileDescriptor?

  static let options = [
    OptionSpec(
      nil, "checkpoint-entries", value: "N",
      help: "public log: a checkpoint at least every N entries (\(PublicLog.defaultCheckpointEntries))"),
    OptionSpec(
      nil, "checkpoint-seconds", value: "SECONDS",
      help: "public log: a checkpoint at least every SECONDS (\(PublicLog.defaultCheckpointSeconds))"),
    OptionSpec(nil, "checkpoints-to", value: "FILE", help: "public log: append each checkpoint line to FILE too"),
  ]

  init() {}

  /// From --checkpoint-entries, --checkpoint-seconds and --checkpoints-to (which need --log).
  init(_ options: ParsedArguments) throws {
    if let text = options.value("checkpoint-entries") {
      guard let value = UInt64(text), value >= 1, value <= 1_000_000_000 else {
        throw ToolError.usage("--checkpoint-entries takes a whole number from 1 to 1000000000")
      }
      entries = value
    }
    if let text = options.value("checkpoint-seconds") {
      guard let value = Int(text), value >= 1, value <= 86400 else {
        throw ToolError.usage("--checkpoint-seconds takes a whole number of seconds from 1 to 86400")
      }
      seconds = value
    }
    if let path = options.value("checkpoints-to") {
      // Appended to, never truncated; the rules of every output (FORMATS.md §11).
      // Read too: a copy torn by a crash gets its line ended before the next checkpoint.
      copyTo = try OutputTarget.openInPlace(path, what: "checkpoint copy", flags: O_RDWR | O_APPEND, truncate: false)
    }
    if !options.has("log") {
      for option in ["checkpoint-entries", "checkpoint-seconds", "checkpoints-to"] where options.has(option) {
        throw ToolError.usage("--\(option) goes with --log")
      }
    }
  }
}

/// Appends sealed entries to a session log (docs/FORMATS.md §9.5). Several processes may write
/// one log (sc-seal and sc-open of a session): each append takes an exclusive lock on the log,
/// reads the sealing key file, checks that the log ends where the key says, appends the new
/// lines with one write(2), and replaces the key file atomically with the evolved key. With a
/// `log-sign` key (a public log, §9.8) it also adds the checkpoints the policy asks for.
final class LogAppender: @unchecked Sendable {
  let logPath: String
  let keyPath: String
  let policy: CheckpointPolicy
  private let log: FileDescriptor
  /// Whether the key is a public log's (`log-sign`).
  let isPublic: Bool
  /// flock(2) does not exclude another thread of this process (the heartbeat), which shares the
  /// descriptor: this does.
  private let mutex = Mutex()

  init(logPath: String, keyPath: String, policy: CheckpointPolicy = CheckpointPolicy()) throws {
    self.logPath = logPath
    self.keyPath = keyPath
    self.policy = policy
    // Fail early, before any message flows, if the key is missing or of the wrong type.
    isPublic = try Self.loadKey(keyPath).type == .logSign
    // Created 0600 or appended to; never through a symbolic link, a fifo named by its path, or a
    // file that others may read or write (OutputTarget). A log on a descriptor: --log /dev/fd/N.
    log = try OutputTarget.openInPlace(logPath, what: "log", flags: O_RDWR | O_APPEND, truncate: false)
  }

  /// A sealing key of either kind (`log-seal` or `log-sign`).
  private static func loadKey(_ path: String) throws -> KeyFile.Key {
    let key = try KeyLoader.load(path, expecting: nil)
    guard key.type == .logSeal || key.type == .logSign else {
      throw ToolError(
        "wrong key type: \(path) is a \(key.type.rawValue) key, but a log-seal key is needed here"
          + " (or log-sign, for a public log)")
    }
    return key
  }

  /// Seals and appends `entries`, all under one lock; the key evolves once per entry.
  func append(_ entries: [LogEntry]) throws {
    guard !entries.isEmpty else { return }
    try appendUnderLock(entries, checkpointNow: false)
  }

  /// Checks, before anything is sent, that the log can be appended to: the key is a sealing key
  /// and the log ends where it says (§9.5 step 3). The work of an interrupted writer is finished
  /// (a torn line is cut and the repair entry written), so that the check changes nothing else.
  func check() throws { try appendUnderLock([], checkpointNow: false) }

  /// A public log's heartbeat (§9.8): a checkpoint if the last one is older than the policy's
  /// seconds, even when nothing was logged since (so that the auditor can tell a live log from
  /// one cut back); nothing for a symmetric log.
  func heartbeat() throws {
    guard isPublic else { return }
    try appendUnderLock([], checkpointNow: false, heartbeat: true)
  }

  private func appendUnderLock(_ entries: [LogEntry], checkpointNow: Bool, heartbeat: Bool = false) throws {
    mutex.lock()
    defer { mutex.unlock() }
    while flock(log.rawValue, LOCK_EX) != 0 {
      if errno != EINTR { throw ToolError.system("cannot lock the log \(logPath)") }
    }
    defer { flock(log.rawValue, LOCK_UN) }
    removeStaleTemporaryKeys()
    let key = try Self.loadKey(keyPath)
    let state = try WriterState(key)
    var lines: [UInt8] = []
    if let cut = try reconcile(state) {
      lines += try state.seal(
        LogEntry(
          time: UTCTime.now(), kind: .repair, sessionID: [], peer: [], sequence: nil,
          text: Array("cut \(cut) bytes of an entry torn by an interrupted writer".utf8)))
    }
    var checkpointLines: [UInt8] = []
    for entry in entries {
      lines += try state.seal(entry)
      // At least every N entries, also within one large append (a read's worth of messages).
      if case .publicLog(let publicState, _) = state, publicState.unsealedCount >= policy.entries {
        let checkpoint = try publicState.sealCheckpoint(time: UTCTime.now(), unixTime: UInt64(max(0, time(nil))))
        lines += checkpoint
        checkpointLines += checkpoint
      }
    }
    if case .publicLog(let publicState, _) = state {
      let now = UInt64(max(0, time(nil)))
      let closes = entries.contains { [.sendClose, .receiveClose, .refused].contains($0.kind) }
      let old = now >= publicState.checkpoint.time + UInt64(policy.seconds)
      let due =
        publicState.unsealedCount > 0
        && (closes || publicState.unsealedCount >= policy.entries || old || checkpointNow)
      // The heartbeat writes a checkpoint when the last one is old, even over no new entry.
      if due || (heartbeat && old) {
        let checkpoint = try publicState.sealCheckpoint(time: UTCTime.now(), unixTime: now)
        lines += checkpoint
        checkpointLines += checkpoint
      }
    }
    guard !lines.isEmpty else { return }
    try lines.withUnsafeBytes { bytes in
      do { try log.writeAll(bytes) } catch { throw ToolError.system("cannot write the log \(logPath)") }
    }
    // The entries reach the disk before the key that has moved past them (§9.5).
    guard fsync(log.rawValue) == 0 || errno == EINVAL else { throw ToolError.system("cannot write the log \(logPath)") }
    try replaceKeyFile(with: state.key)
    if let copy = policy.copyTo, !checkpointLines.isEmpty {
      // After the log has it: the copy never holds a checkpoint the log lacks. A copy that a
      // crash left without its last LF gets one first, so that the torn piece stays a line
      // of its own (which sc-logcheck --checkpoints skips).
      var info = stat()
      var last: UInt8 = 0x0a
      if fstat(copy.rawValue, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, info.st_size > 0,
        pread(copy.rawValue, &last, 1, info.st_size - 1) == 1, last != 0x0a
      {
        checkpointLines.insert(0x0a, at: 0)
      }
      do { try checkpointLines.withUnsafeBytes { try copy.writeAll($0) } } catch {
        throw ToolError.system("cannot write the checkpoint copy")
      }
    }
  }

  /// Checks the end of the log against the key's position before anything is appended, and
  /// finishes the work of a writer that was interrupted. Returns the bytes cut from a torn line.
  private func reconcile(_ state: WriterState) throws -> Int? {
    var info = stat()
    guard fstat(log.rawValue, &info) == 0 else { throw ToolError.system("cannot stat the log \(logPath)") }
    let size = Int(info.st_size)
    if size == 0 {
      guard state.nextIndex == 0 else {
        throw outOfStep("the log is empty but its key has sealed \(state.nextIndex) entries")
      }
      return nil
    }
    if try endsWhereKeyIs(state, size: size) { return nil }
    // Enough of the end to hold the largest single append (one read's worth of messages).
    let tailSize = min(size, Self.maxAppendBytes)
    var tail = [UInt8](repeating: 0, count: tailSize)
    let n = tail.withUnsafeMutableBytes { pread(log.rawValue, $0.baseAddress, tailSize, off_t(size - tailSize)) }
    guard n == tailSize else { throw ToolError.system("cannot read the log \(logPath)") }
    var cut: Int?
    if tail.last != UInt8(ascii: "\n") {
      // A torn line: its writer died before the key moved on, so it was never a sealed entry.
      let keep = tail.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0
      // Cut only what looks like the start of an entry ("<number> ..."), after a log line or
      // at the start of the file: never the last line of a file that is not a log at all.
      let torn = tail[keep...]
      let digits = torn.prefix(while: { $0 >= 0x30 && $0 <= 0x39 })
      let looksLikeEntry =
        !digits.isEmpty && (digits.count == torn.count || torn[torn.startIndex + digits.count] == 0x20)
      let previousIsLogLine =
        keep == 0
        ? tailSize == size
        : tail.withUnsafeBytes { bytes in
          let end = keep - 1
          let start = bytes[..<end].lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0
          return (try? LogLine(UnsafeRawBufferPointer(rebasing: bytes[start..<end]), lineNumber: 0)) != nil
        }
      guard looksLikeEntry && previousIsLogLine else {
        throw ToolError("\(logPath) does not end with a complete line and is not a SecureChat log")
      }
      cut = tailSize - keep
      guard ftruncate(log.rawValue, off_t(size - cut!)) == 0 else {
        throw ToolError.system("cannot repair the torn end of the log \(logPath)")
      }
      tail.removeLast(cut!)
      if tail.isEmpty {
        guard size - cut! == 0, state.nextIndex == 0 else { throw outOfStep("the log has no complete entry") }
        return cut
      }
    }
    try tail.withUnsafeBytes { bytes in
      // The complete lines of the tail (the first one may start before the window: skip it).
      var lines: [UnsafeRawBufferPointer] = []
      var end = bytes.count - 1
      while end > 0 {
        let start = bytes[..<end].lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 }
        guard let start else {
          if tailSize == size { lines.append(UnsafeRawBufferPointer(rebasing: bytes[0..<end])) }
          break
        }
        lines.append(UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
        end = start - 1
      }
      lines.reverse()
      guard let lastLine = lines.last else { throw outOfStep("its last entry is longer than any append") }
      let last = try LogLine(lastLine, lineNumber: 0)
      if last.index + 1 == state.nextIndex && ConstantTime.equals(last.tag, state.previousTag) { return }
      guard last.index >= state.nextIndex,
        let first = lines.firstIndex(where: { (try? LogLine($0, lineNumber: 0))?.index == state.nextIndex })
      else { throw outOfStep("it ends with entry \(last.index), but its key is at entry \(state.nextIndex)") }
      // Appended, but the writer died before replacing the key file: verify, then catch up.
      for line in lines[first...] {
        let entry = try LogLine(line, lineNumber: 0)
        guard entry.index == state.nextIndex, try state.advance(past: entry) else {
          throw outOfStep("entry \(entry.index), written after the key's position, does not verify")
        }
      }
    }
    return cut
  }

  /// The usual case, checked on a small read: the last line is the entry the key sealed last.
  private func endsWhereKeyIs(_ state: WriterState, size: Int) throws -> Bool {
    let tailSize = min(size, 4096)
    var tail = [UInt8](repeating: 0, count: tailSize)
    let n = tail.withUnsafeMutableBytes { pread(log.rawValue, $0.baseAddress, tailSize, off_t(size - tailSize)) }
    guard n == tailSize, tail.last == UInt8(ascii: "\n") else { return false }
    tail.removeLast()
    guard let newline = tail.lastIndex(of: UInt8(ascii: "\n")) ?? (tailSize == size ? -1 : nil) else { return false }
    return tail.withUnsafeBytes { bytes in
      guard let last = try? LogLine(UnsafeRawBufferPointer(rebasing: bytes[(newline + 1)...]), lineNumber: 0) else {
        return false
      }
      return last.index + 1 == state.nextIndex && ConstantTime.equals(last.tag, state.previousTag)
    }
  }

  /// §9.5: the most one append writes (a read's worth of messages, escaped, with their fields),
  /// and so how far back a writer looks to finish an interrupted append.
  static let maxAppendBytes = 8 << 20

  private func outOfStep(_ why: String) -> ToolError {
    ToolError(
      "the log \(logPath) does not match its sealing key: \(why)",
      hints: ["it may have been truncated, replaced or edited: check it with sc-logcheck"], status: .integrityFailure)
  }

  private var keyDirectory: String {
    let directory = keyPath.lastIndex(of: "/").map { String(keyPath[..<$0]) } ?? "."
    return directory.isEmpty ? "/" : directory
  }

  /// Temporary key files are named after the key file, so that only writers of this log (who
  /// hold its lock) ever touch them.
  private var temporaryKeyPrefix: String {
    ".\(keyPath.split(separator: "/").last.map(String.init) ?? keyPath).new."
  }

  /// A writer killed between creating its temporary key file and renaming it leaves that file
  /// behind, holding a key that could still seal entries from its position on: remove such
  /// files (under the lock, so no live writer is between those two steps). If the lost key was
  /// ahead of the key file, `reconcile` catches up from the log.
  private func removeStaleTemporaryKeys() {
    guard let directory = opendir(keyDirectory) else { return }
    defer { closedir(directory) }
    let prefix = temporaryKeyPrefix
    while let entry = readdir(directory) {
      let name = withUnsafeBytes(of: entry.pointee.d_name) {
        String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self)
      }
      if name.hasPrefix(prefix) && name.count == prefix.count + 6 { unlink("\(keyDirectory)/\(name)") }
    }
  }

  /// Writes the evolved key to a temporary file beside the key file and renames it into place, so
  /// that the key file is always whole; the old key is gone from memory with its buffer.
  private func replaceKeyFile(with key: KeyFile.Key) throws {
    let contents = KeyFile.serialize(key)
    var template = Array("\(keyDirectory)/\(temporaryKeyPrefix)XXXXXX".utf8CString)
    let raw = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
    guard raw >= 0 else { throw ToolError.system("cannot replace the log key \(keyPath)") }
    let fd = FileDescriptor(rawValue: raw)
    do {
      try contents.withUnsafeBytes { try fd.writeAll($0) }
      guard fsync(raw) == 0 || errno == EINVAL else { throw ToolError.system("cannot write \(keyPath)") }
      fd.close()
      guard template.withUnsafeBufferPointer({ rename($0.baseAddress!, keyPath) }) == 0 else {
        throw ToolError.system("cannot replace the log key \(keyPath)")
      }
    } catch {
      fd.close()
      _ = template.withUnsafeBufferPointer { unlink($0.baseAddress!) }
      throw error
    }
  }
}

/// Logs one direction of a session: an opening entry, one entry per message, a closing entry.
final class SessionLogger {
  private let appender: LogAppender
  private let session: OneWaySession
  private var direction: OneWaySession.Direction { session.direction }
  private var pending: [LogEntry] = []
  private(set) var messageCount = 0
  /// A public log's checkpoints while the session is open, even when it is idle (§9.8).
  private var heartbeat: LogHeartbeat?

  /// Logs the direction of `session`.
  init(appender: LogAppender, session: OneWaySession) {
    self.appender = appender
    self.session = session
  }

  func open() throws {
    let text = "local \(String(decoding: session.localName, as: UTF8.self)) code \(session.verificationCode)"
    try appender.append([entry(direction == .send ? .sendOpen : .receiveOpen, sequence: nil, text: Array(text.utf8))])
    if appender.isPublic { heartbeat = LogHeartbeat(appender: appender) }
  }

  /// Queues a message; `flush()` writes the queued entries under one lock.
  func message(sequence: UInt64, _ bytes: UnsafeRawBufferPointer) {
    pending.append(entry(direction == .send ? .sent : .received, sequence: sequence, text: Array(bytes)))
    messageCount += 1
  }

  func flush() throws {
    guard !pending.isEmpty else { return }
    defer { pending.removeAll(keepingCapacity: true) }
    try appender.append(pending)
  }

  func close(_ reason: String) throws {
    heartbeat?.stop()
    heartbeat = nil
    try flush()
    let text = "\(messageCount) message\(messageCount == 1 ? "" : "s"); \(reason)"
    try appender.append([entry(direction == .send ? .sendClose : .receiveClose, sequence: nil, text: Array(text.utf8))])
  }

  private func entry(_ kind: LogEntryKind, sequence: UInt64?, text: [UInt8]) -> LogEntry {
    LogEntry(
      time: UTCTime.now(), kind: kind, sessionID: session.sessionID, peer: session.peerName, sequence: sequence,
      text: text)
  }
}

enum UTCTime {
  /// ISO 8601 in UTC with microseconds: 2026-11-26T15:04:05.123456Z.
  static func now() -> String {
    var spec = timespec()
    clock_gettime(CLOCK_REALTIME, &spec)
    var seconds = spec.tv_sec
    var parts = tm()
    gmtime_r(&seconds, &parts)
    func pad(_ value: Int32, _ width: Int) -> String {
      let text = String(value)
      return String(repeating: "0", count: max(0, width - text.count)) + text
    }
    return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
      + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(spec.tv_nsec / 1000), 6))Z"
  }
}

/// `sc-handshake --log LOGFILE --log-key SEALKEY [--peer-address ADDRESS]`: a handshake that fails
/// leaves a `refused` entry (docs/FORMATS.md §9.2), so that the log shows the attempts that did
/// not get in, not only the sessions that did. The log and its key are checked before the
/// handshake starts.
struct FailedHandshakeLog {
  private let appender: LogAppender
  private let peerAddress: String?

  /// nil without --log; a usage error for half of the options.
  init?(_ options: ParsedArguments) throws {
    let address = options.value("peer-address")
    switch (options.value("log"), options.value("log-key")) {
    case (nil, nil):
      guard address == nil else { throw ToolError.usage("--peer-address goes with --log") }
      return nil
    case (.some(let logPath), .some(let keyPath)):
      if let address {
        // Recorded as it is: printable ASCII without spaces, as socat and systemd write addresses.
        guard (1...100).contains(address.utf8.count), address.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
          throw ToolError.usage("--peer-address takes 1 to 100 printable characters without spaces")
        }
      }
      appender = try LogAppender(logPath: logPath, keyPath: keyPath)
      try appender.check()
      peerAddress = address
    default: throw ToolError.usage("--log and --log-key go together")
    }
  }

  /// Appends the entry for `error`, the failure the tool is about to report; a log that cannot
  /// take it is reported too, and the handshake's own status stays.
  func record(_ error: Error) {
    let reason: String
    switch error {
    case let error as ToolError: reason = error.message
    case let error as ProtocolError: reason = error.description
    default: reason = "\(error)"
    }
    let text = peerAddress.map { "from \($0): \(reason)" } ?? reason
    do {
      try appender.append([
        LogEntry(time: UTCTime.now(), kind: .refused, sessionID: [], peer: [], sequence: nil, text: Array(text.utf8))
      ])
    } catch {
      let message = (error as? ToolError)?.message ?? "\(error)"
      Diagnostics.error("cannot log the failed handshake: \(message)")
    }
  }
}

/// The state a writer seals with: the symmetric chain of a `log-seal` key (§9.3), or the public
/// chain and checkpoints of a `log-sign` key (§9.8).
enum WriterState {
  case symmetric(LogSealState)
  case publicLog(PublicLogState, auditKey: [UInt8])

  init(_ key: KeyFile.Key) throws {
    let position = key.logPosition!
    if key.type == .logSign {
      self = .publicLog(
        PublicLogState(
          seed: key.secret, nextIndex: position.nextIndex, previousTag: position.previousTag,
          checkpoint: key.checkpointPosition!), auditKey: key.auditKey!)
    } else {
      self = .symmetric(LogSealState(key: key.secret, nextIndex: position.nextIndex, previousTag: position.previousTag))
    }
  }

  var nextIndex: UInt64 {
    switch self {
    case .symmetric(let state): return state.nextIndex
    case .publicLog(let state, _): return state.nextIndex
    }
  }

  var previousTag: [UInt8] {
    switch self {
    case .symmetric(let state): return state.previousTag
    case .publicLog(let state, _): return state.previousTag
    }
  }

  func seal(_ entry: LogEntry) throws -> [UInt8] {
    switch self {
    case .symmetric(let state): return try state.seal(entry)
    case .publicLog(let state, _): return state.seal(entry)
    }
  }

  /// Moves past `line`, already in the log, if it is the entry this state would have written
  /// next (a writer finishing the append of one that died before replacing the key file).
  func advance(past line: LogLine) throws -> Bool {
    switch self {
    case .symmetric(let state):
      let tag = try SessionLog.tag(body: line.body, previousTag: state.previousTag, key: state.key)
      guard ConstantTime.equals(tag, line.tag) else { return false }
      state.advance(pastEntryWithTag: line.tag)
      return true
    case .publicLog(let state, _):
      guard ConstantTime.equals(PublicLog.tag(body: line.body, previousTag: state.previousTag), line.tag) else {
        return false
      }
      if line.kind == .checkpoint {
        // The heartbeat counts from when that checkpoint was written, not from now.
        let written = PublicLogCheck.parseTime(line.time).map { UInt64(max(0, $0)) } ?? 0
        return try state.advance(pastCheckpoint: line, unixTime: written)
      }
      state.advance(pastEntryWithTag: line.tag)
      return true
    }
  }

  /// The key file's contents after the append.
  var key: KeyFile.Key {
    switch self {
    case .symmetric(let state):
      return KeyFile.Key(
        type: .logSeal, secret: state.key,
        logPosition: KeyFile.LogPosition(nextIndex: state.nextIndex, previousTag: state.previousTag))
    case .publicLog(let state, let auditKey):
      return KeyFile.Key(
        type: .logSign, secret: state.seed,
        logPosition: KeyFile.LogPosition(nextIndex: state.nextIndex, previousTag: state.previousTag),
        checkpointPosition: state.checkpoint, auditKey: auditKey)
    }
  }
}

/// A pthread mutex, for the log appender's two threads.
final class Mutex: @unchecked Sendable {
  private let raw = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
  init() { pthread_mutex_init(raw, nil) }
  deinit {
    pthread_mutex_destroy(raw)
    raw.deallocate()
  }
  func lock() { pthread_mutex_lock(raw) }
  func unlock() { pthread_mutex_unlock(raw) }
}

/// Calls `LogAppender.heartbeat()` every `policy.seconds` on a thread of its own until stopped:
/// sc-seal -s and sc-open -s wait on their input for as long as the peer is silent.
final class LogHeartbeat: @unchecked Sendable {
  private let appender: LogAppender
  private var thread = pthread_t()
  private var stopped = false
  private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
  private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

  init(appender: LogAppender) {
    self.appender = appender
    pthread_mutex_init(mutex, nil)
    pthread_cond_init(wake, nil)
    let context = Unmanaged.passRetained(self).toOpaque()
    let started = pthread_create(
      &thread, nil,
      { context in
        let heartbeat = Unmanaged<LogHeartbeat>.fromOpaque(context!).takeRetainedValue()
        heartbeat.run()
        return nil
      }, context)
    if started != 0 {
      Unmanaged<LogHeartbeat>.fromOpaque(context).release()
      stopped = true
    }
  }

  deinit {
    pthread_cond_destroy(wake)
    pthread_mutex_destroy(mutex)
    wake.deallocate()
    mutex.deallocate()
  }

  private func run() {
    pthread_mutex_lock(mutex)
    while !stopped {
      var deadline = timespec()
      clock_gettime(CLOCK_REALTIME, &deadline)
      deadline.tv_sec += appender.policy.seconds
      // Wakes at the deadline, or early when stopped.
      while !stopped && pthread_cond_timedwait(wake, mutex, &deadline) != ETIMEDOUT {}
      if stopped { break }
      pthread_mutex_unlock(mutex)
      // A failure shows again at the session's next append, which reports it.
      try? appender.heartbeat()
      pthread_mutex_lock(mutex)
    }
    pthread_mutex_unlock(mutex)
  }

  /// Stops the thread and waits for it (after a heartbeat in progress, if any).
  func stop() {
    pthread_mutex_lock(mutex)
    let wasRunning = !stopped
    stopped = true
    pthread_cond_signal(wake)
    pthread_mutex_unlock(mutex)
    if wasRunning { pthread_join(thread, nil) }
  }
}
