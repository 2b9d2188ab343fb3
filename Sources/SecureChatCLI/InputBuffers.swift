import SecureChatCrypto
import SecureChatProtocol

#if canImport(Glibc)
  import Glibc
#endif

/// Cuts an input into the chunks of a sealed file (FORMATS.md §3.2), reading ahead far enough
/// to know which chunk is the last. Reads are large (up to 1 MiB) to keep system calls rare.
final class ChunkReader {
  private let input: FileDescriptor
  private let chunkSize: Int
  private let maxCapacity: Int
  /// Holds plaintext, so it is a zeroed-on-release buffer. It starts at two chunks (small inputs
  /// then cost little to set up and to wipe) and grows once to `readSize` for long inputs.
  private var storage: SecretBytes
  private var start = 0
  private var end = 0
  private var inputEnded = false
  private var finished = false

  init(input: FileDescriptor, chunkSize: Int, readSize: Int = 1 << 20) {
    self.input = input
    self.chunkSize = chunkSize
    maxCapacity = readSize + chunkSize
    storage = SecretBytes(count: 2 * chunkSize)
  }

  /// The next chunk (valid until the next call) and whether it is the last; nil after the last.
  /// An empty input gives one empty final chunk.
  func next() throws -> (chunk: UnsafeRawBufferPointer, isFinal: Bool)? {
    if finished { return nil }
    while end - start <= chunkSize && !inputEnded {
      if start > 0 {
        storage.withUnsafeMutableBytes {
          $0.baseAddress!.copyMemory(from: $0.baseAddress! + start, byteCount: end - start)
        }
        end -= start
        start = 0
      } else if end == storage.count && storage.count < maxCapacity {
        // A full buffer: the input is long, so read in larger blocks from now on.
        let larger = SecretBytes(count: maxCapacity)
        larger.withUnsafeMutableBytes { new in
          storage.withUnsafeBytes { new.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: end) }
        }
        storage = larger
      }
      let n = try storage.withUnsafeMutableBytes {
        try input.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[end...]))
      }
      if n == 0 { inputEnded = true }
      end += n
    }
    return storage.withUnsafeBytes { buffer in
      let count = min(end - start, chunkSize)
      let chunk = UnsafeRawBufferPointer(rebasing: buffer[start..<start + count])
      start += count
      let isFinal = inputEnded && start == end
      finished = isFinal
      return (chunk, isFinal)
    }
  }
}

/// A byte queue between a source (a file descriptor, or an armor decoder) and a sans-I/O
/// parser: the parser looks at `readable`, consumes what it used, and asks for more.
final class InputQueue {
  private let storage: UnsafeMutableRawBufferPointer
  private var start = 0
  private var end = 0
  private(set) var atEnd = false
  private let source: (UnsafeMutableRawBufferPointer) throws -> Int

  /// `source` fills the buffer it is given and returns the count, 0 at end of input.
  init(capacity: Int, prefix: [UInt8] = [], source: @escaping (UnsafeMutableRawBufferPointer) throws -> Int) {
    precondition(capacity >= prefix.count)
    // calloc: pages are only paid for when input reaches them.
    let storage = UnsafeMutableRawBufferPointer(start: calloc(capacity, 1)!, count: capacity)
    prefix.withUnsafeBytes { storage.copyMemory(from: $0) }
    self.storage = storage
    end = prefix.count
    self.source = source
  }

  /// The queue only ever holds sealed bytes (frames, or armor decoded to frames): no plaintext.
  deinit { free(storage.baseAddress) }

  var readable: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: storage[start..<end]) }

  func consume(_ count: Int) {
    precondition(count <= end - start)
    start += count
  }

  /// Reads more input once; moves the unread bytes to the front first when space runs short.
  func fill() throws {
    if start > 0 && (start == end || storage.count - end < RecordLayer.maxFrameSize) {
      storage.baseAddress!.copyMemory(from: storage.baseAddress! + start, byteCount: end - start)
      end -= start
      start = 0
    }
    precondition(end < storage.count, "input queue too small for one frame")
    let n = try source(UnsafeMutableRawBufferPointer(rebasing: storage[end...]))
    if n == 0 { atEnd = true }
    end += n
  }
}

/// Feeds an `InputQueue` with the binary bytes of an armored input.
final class ArmorSource {
  private let input: FileDescriptor
  private var decoder = ArmorDecoder()
  private var decoded: [UInt8] = []
  private var decodedStart = 0
  private var text = [UInt8](repeating: 0, count: 1 << 16)
  private var inputEnded = false
  /// The armor's failure, reported once the bytes of the lines before it have been read
  /// (FORMATS.md §4.2 rule 7: line by line, so the result does not depend on read sizes).
  private var failure: Error?

  init(input: FileDescriptor, prefix: [UInt8]) throws {
    self.input = input
    do { try prefix.withUnsafeBytes { try decoder.decode($0, into: &decoded) } } catch { failure = error }
  }

  func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
    while decodedStart == decoded.count {
      if let failure { throw failure }
      if inputEnded { return 0 }
      decoded.removeAll(keepingCapacity: true)
      decodedStart = 0
      let n = try text.withUnsafeMutableBytes { try input.read(into: $0) }
      // On a failure `decoded` keeps the bytes of the lines before the failing one.
      do {
        if n == 0 {
          inputEnded = true
          try decoder.finish(into: &decoded)
        } else {
          try text.withUnsafeBytes { try decoder.decode(UnsafeRawBufferPointer(rebasing: $0[0..<n]), into: &decoded) }
        }
      } catch {
        failure = error
      }
    }
    let count = min(buffer.count, decoded.count - decodedStart)
    decoded.withUnsafeBytes {
      buffer.baseAddress!.copyMemory(from: $0.baseAddress! + decodedStart, byteCount: count)
    }
    decodedStart += count
    return count
  }
}
