import Dispatch
import SecureChatProtocol
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// Runs the two halves of sealing or opening on two cores: the calling thread fills slots
/// (read + encrypt, or read + verify), a worker thread drains them (authenticate + write, or
/// decrypt + write). Slots are reused round-robin, so memory stays constant whatever the size.
///
/// Usage: `start(consumer)`, then for each batch `acquire()` a slot, fill it, `submit(_:isLast:)`;
/// always end with `finish()`, which submits the end marker if needed, joins the worker and
/// rethrows its first error.
final class TwoStagePipeline<Slot: AnyObject>: @unchecked Sendable {
  private let slots: [Slot]
  private var isLastSlot: [Bool]
  private let freeSlots: DispatchSemaphore
  private let readySlots = DispatchSemaphore(value: 0)
  private var producerIndex = 0
  private var submittedLast = false
  /// True between `acquire()` and `submit(isLast:)`: the producer holds a slot.
  private var holdsSlot = false
  /// Written by the worker before it signals `freeSlots`; read by the producer after waiting on
  /// it, so the semaphore orders the two accesses.
  private var consumerError: Error?
  private var consumer: ((Slot) throws -> Void)?
  private var thread: pthread_t?
  /// Slots submitted and not yet drained by the worker (the one it is working on included).
  private let unfinished = Atomic<Int>(0)

  /// How far behind the worker is: a producer with work it could hand either way (opening's tag
  /// checks) keeps it while the worker has a backlog, and hands it over when the worker is idle.
  var workerBacklog: Int { unfinished.load(ordering: .relaxed) }

  init(slots: [Slot]) {
    precondition(!slots.isEmpty)
    self.slots = slots
    isLastSlot = Array(repeating: false, count: slots.count)
    // Created at 0 and raised: libdispatch traps when a semaphore is released below its initial
    // value, which a producer that stops early could otherwise cause.
    freeSlots = DispatchSemaphore(value: 0)
    for _ in slots { freeSlots.signal() }
  }

  /// Sets the consumer. The worker thread starts with the first batch that is not also the
  /// last: an input that fits in one batch is handled on the calling thread, which keeps
  /// start-up cheap for small files.
  func start(_ consumer: @escaping (Slot) throws -> Void) {
    self.consumer = consumer
  }

  /// The next free slot; throws the worker's error if it has failed (stop producing then).
  func acquire() throws -> Slot {
    freeSlots.wait()
    if let consumerError {
      freeSlots.signal()
      throw consumerError
    }
    holdsSlot = true
    return slots[producerIndex % slots.count]
  }

  /// Hands the slot from the last `acquire()` to the worker.
  func submit(isLast: Bool) {
    precondition(holdsSlot, "submit without acquire")
    holdsSlot = false
    if thread == nil && producerIndex == 0 && isLast {
      do { try consumer!(slots[0]) } catch { consumerError = error }
      producerIndex += 1
      submittedLast = true
      freeSlots.signal()
      return
    }
    if thread == nil { thread = startThread { self.drain() } }
    isLastSlot[producerIndex % slots.count] = isLast
    unfinished.add(1, ordering: .relaxed)
    producerIndex += 1
    submittedLast = isLast
    readySlots.signal()
  }

  /// Waits for the worker to write everything submitted and rethrows its error, if any.
  /// If the producer stopped early, the worker is told to stop after what it already has.
  func finish() throws {
    if thread == nil {
      // Nothing was handed to a worker (or the only batch ran inline).
      if let consumerError { throw consumerError }
      return
    }
    if !submittedLast {
      // Reuse the slot the producer holds, if any, for the stop marker.
      if !holdsSlot { freeSlots.wait() }
      holdsSlot = false
      isLastSlot[producerIndex % slots.count] = true
      stopMarkerIndex = producerIndex
      producerIndex += 1
      submittedLast = true
      readySlots.signal()
    }
    if let thread { pthread_join(thread, nil) }
    thread = nil
    if let consumerError { throw consumerError }
  }

  /// The index of a slot that carries no data, only the instruction to stop.
  private var stopMarkerIndex = -1

  private func drain() {
    var index = 0
    while true {
      readySlots.wait()
      let slotIndex = index % slots.count
      let last = isLastSlot[slotIndex]
      if consumerError == nil && index != stopMarkerIndex {
        do { try consumer!(slots[slotIndex]) } catch { consumerError = error }
      }
      index += 1
      if index - 1 != stopMarkerIndex { unfinished.subtract(1, ordering: .relaxed) }
      freeSlots.signal()
      if last { return }
    }
  }
}

/// A second thread for fork-join work: `run(body)` starts `body` on it, `wait()` returns once
/// it has finished; the caller does its own share in between. The thread is started on first use
/// and then waits for the next body until the process exits.
final class HelperThread: @unchecked Sendable {
  private let started = DispatchSemaphore(value: 0)
  private let finished = DispatchSemaphore(value: 0)
  /// Written before `started` is signalled and read after it is waited on.
  private var body: (() -> Void)?
  private var thread: pthread_t?

  func run(_ body: @escaping () -> Void) {
    self.body = body
    if thread == nil {
      // The thread keeps the object (and its semaphores) alive: libdispatch traps when a
      // semaphore someone waits on is freed.
      thread = startThread {
        while true {
          self.started.wait()
          self.body?()
          self.body = nil
          self.finished.signal()
        }
      }
    }
    started.signal()
  }

  func wait() { finished.wait() }
}

/// Holds a thread's body while the thread starts (pthread_create takes one opaque pointer).
private final class ThreadBody {
  let run: () -> Void
  init(_ run: @escaping () -> Void) { self.run = run }
}

/// Starts a joinable POSIX thread running `body`.
func startThread(_ body: @escaping () -> Void) -> pthread_t {
  let context = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
  var thread = pthread_t()
  let result = pthread_create(
    &thread, nil,
    { context in
      Unmanaged<ThreadBody>.fromOpaque(context!).takeRetainedValue().run()
      return nil
    }, context)
  precondition(result == 0, "pthread_create failed")
  return thread
}

/// One slot of a pipeline: room for `framesPerBatch` whole frames (sealed bytes only, never
/// plaintext) and what the stages need to know about each. The memory is taken on first use,
/// so slots a small input never reaches cost nothing.
final class FrameBatch<Entry> {
  static var framesPerBatch: Int { 8 }
  static var capacity: Int { framesPerBatch * RecordLayer.maxFrameSize }

  var entries: [Entry] = []
  var used = 0
  /// Opening: the frames' tags are still to be checked, by the worker, before it decrypts them.
  var tagsToCheck = false
  /// Sealing: the frames' tags and CRCs are already made (by the reading thread).
  var isAuthenticated = false
  private var storage: UnsafeMutableRawPointer?

  var buffer: UnsafeMutableRawPointer {
    if let storage { return storage }
    let allocated = calloc(Self.capacity, 1)!
    storage = allocated
    return allocated
  }

  var isFull: Bool { entries.count == Self.framesPerBatch }

  func reset() {
    entries.removeAll(keepingCapacity: true)
    used = 0
    tagsToCheck = false
    isAuthenticated = false
  }

  deinit { free(storage) }
}
