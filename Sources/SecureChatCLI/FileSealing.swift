import SecureChatCrypto
import SecureChatProtocol

#if canImport(Glibc)
  import Glibc
#endif

/// What a file is sealed with: a key file (FORMATS.md §3, version 1) or recipients' public keys
/// (§12.2, version 2), from an anonymous or an authenticated sender.
public enum FileSealingSecret {
  case preSharedKey(KeyFile.Key)
  case recipients([PublicKey], sender: RecipientFile.Identity?)
}

/// `sc-seal -k` and `sc-seal -r`: a sealed file (FORMATS.md §3, §12.2), binary or armored, in
/// constant memory.
///
/// AES-CBC encryption is serial within a frame and is the slowest step (≈ 1 GB/s here), so the
/// calling thread reads and encrypts while a worker authenticates (HMAC, CRC) and writes. Writing
/// can cost as much as encrypting (a tmpfs allocating pages), so when the worker has a batch
/// waiting besides its current one, the calling thread authenticates the next batch itself.
public enum FileSealing {
  static let batchCount = 4
  typealias Batch = FrameBatch<(offset: Int, ciphertextCount: Int)>

  public static func seal(input: FileDescriptor, output: OutputFile, secret: FileSealingSecret, armored: Bool) throws {
    let header: [UInt8]
    let keys: SealedFile.Keys
    var recipientSealing: RecipientFile.Sealing?
    switch secret {
    case .preSharedKey(let key):
      let salt = SecureRandom.bytes(count: SealedFile.saltSize)
      keys = try SealedFile.deriveKeys(fileKey: key.secret, salt: salt)
      header = try SealedFile.header(salt: salt, keys: keys)
    case .recipients(let recipients, let sender):
      let sealing = try RecipientFile.beginSealing(recipients: recipients, sender: sender)
      keys = sealing.keys
      header = sealing.header
      recipientSealing = sealing
    }
    // §12.2: the proofs cover T, the hash of every frame's tag, taken as the worker makes them.
    let contentHash = recipientSealing?.isSenderAuthenticated == true ? ContentHash() : nil
    let encryptor = try FrameEncryptor(key: keys.frames.encryption)
    // One HMAC context per thread.
    let authenticator = try FrameAuthenticator(key: keys.frames.authentication)
    let readerAuthenticator = try FrameAuthenticator(key: keys.frames.authentication)
    let writer = SealedWriter(output: output, armored: armored)
    try writer.write(header)

    let pipeline = TwoStagePipeline(slots: (0..<batchCount).map { _ in Batch() })
    /// Makes the tags and CRCs of every frame in `batch`.
    func authenticate(_ batch: Batch, with authenticator: FrameAuthenticator) {
      for frame in batch.entries {
        authenticator.authenticate(frame: batch.buffer + frame.offset, ciphertextCount: frame.ciphertextCount)
      }
      batch.isAuthenticated = true
    }
    pipeline.start { batch in
      if !batch.isAuthenticated { authenticate(batch, with: authenticator) }
      // In frame order, whichever thread made the tags.
      for frame in batch.entries {
        let size = RecordLayer.frameOverhead + frame.ciphertextCount
        contentHash?.add(frame: UnsafeRawBufferPointer(start: batch.buffer + frame.offset, count: size))
      }
      try writer.write(UnsafeRawBufferPointer(start: batch.buffer, count: batch.used))
    }

    let reader = ChunkReader(input: input, chunkSize: SealedFile.chunkSize)
    var sequence: UInt64 = 0
    do {
      var batch = try pipeline.acquire()
      batch.reset()
      while let (chunk, isFinal) = try reader.next() {
        let ciphertextCount = encryptor.encrypt(
          plaintext: chunk, type: .data, isFinal: isFinal, sequence: sequence, into: batch.buffer + batch.used)
        batch.entries.append((batch.used, ciphertextCount))
        batch.used += RecordLayer.frameOverhead + ciphertextCount
        sequence += 1
        if isFinal || batch.isFull {
          if pipeline.workerBacklog >= 2 { authenticate(batch, with: readerAuthenticator) }
          pipeline.submit(isLast: isFinal)
          if isFinal { break }
          batch = try pipeline.acquire()
          batch.reset()
        }
      }
    } catch {
      try? pipeline.finish()
      throw error
    }
    try pipeline.finish()
    if let recipientSealing, let contentHash {
      try writer.write(recipientSealing.trailer(contentHash: contentHash.finalize()))
    }
    try writer.finish()
  }
}

/// Writes the sealed bytes as they are or as armor.
final class SealedWriter {
  private let output: OutputFile
  private var armor: ArmorEncoder?
  private var text: [UInt8] = []

  init(output: OutputFile, armored: Bool) {
    self.output = output
    if armored {
      armor = ArmorEncoder()
      text = armor!.header()
    }
  }

  func write(_ bytes: UnsafeRawBufferPointer) throws {
    guard armor != nil else { return try output.write(bytes) }
    armor!.encode(bytes, into: &text)
    try output.write(text)
    text.removeAll(keepingCapacity: true)
  }

  func write(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try write($0) } }

  func finish() throws {
    guard armor != nil else { return }
    armor!.finish(into: &text)
    try output.write(text)
    text.removeAll()
  }
}
