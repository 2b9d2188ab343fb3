/// Why a key file, frame, sealed file or armor was rejected.
///
/// Each case belongs to one of the two failure classes of DESIGN.md: `isIntegrityFailure`
/// cases mean "do not trust the data" (exit 1); the others mean "this is not ours, or not a
/// version we understand" (exit 2).
public enum ProtocolError: Error, Equatable, CustomStringConvertible {
  /// The input does not start like anything of ours (docs/FORMATS.md §3.1).
  case notSealed
  /// A version or feature we do not implement.
  case unsupported(String)
  /// The input ended before the final frame (or in the middle of a header or frame).
  case truncated
  /// A frame header announces a ciphertext length outside the limits of §2.
  case badLength(Int)
  /// The CRC-32 of a frame does not match: accidental damage (an attacker would fix the CRC).
  case corrupted
  /// A tag did not verify: wrong key, or the data was changed.
  case authenticationFailed(String)
  /// A correctly authenticated frame arrived at the wrong place.
  case outOfOrder(expected: UInt64, received: UInt64)
  /// Bytes after the final frame.
  case trailingData
  /// A frame's content breaks a rule of its container (e.g. a short non-final chunk).
  case malformed(String)
  /// The key file cannot be parsed.
  case invalidKeyFile(String)
  /// A public key's text (FORMATS.md §12.1) is not one: mistyped, cut short, or of low order.
  case badPublicKey(String)
  /// A sealed file of the other kind: sealed with a pre-shared key but opened with an identity,
  /// or sealed to recipients but opened with a key file (FORMATS.md §12.2).
  case wrongKeyType(String)
  /// A session stream that holds only the abort of the peer's sc-handshake (PROTOCOL.md §6.3 rule 3).
  case rejected

  public var isIntegrityFailure: Bool {
    switch self {
    case .notSealed, .unsupported, .invalidKeyFile, .badPublicKey, .wrongKeyType: return false
    default: return true
    }
  }

  /// The name of the error class used by the test vectors of docs/FORMATS.md §6.
  public var vectorClass: String {
    switch self {
    case .notSealed: return "not-sealed"
    case .unsupported: return "unsupported"
    case .truncated: return "truncated"
    case .badLength: return "bad-length"
    case .corrupted: return "corrupted"
    case .authenticationFailed: return "authentication"
    case .outOfOrder: return "out-of-order"
    case .trailingData: return "trailing-data"
    case .malformed: return "malformed"
    case .invalidKeyFile: return "invalid-key"
    case .badPublicKey: return "bad-public-key"
    case .wrongKeyType: return "wrong-key-type"
    case .rejected: return "rejected"
    }
  }

  /// The words every diagnostic of this class starts with (FORMATS.md §5, "message starts
  /// with"): stable, so that a script can match on them.
  public var classWording: String {
    switch self {
    case .notSealed: return "input is not a sealed file"
    case .unsupported: return "unsupported"
    case .truncated: return "input is truncated"
    case .badLength: return "frame length out of range"
    case .corrupted: return "frame corrupted in transit"
    case .authenticationFailed: return "authentication failed"
    case .outOfOrder: return "frame out of order"
    case .trailingData: return "data after the final frame"
    case .malformed: return "malformed input"
    case .invalidKeyFile: return "invalid key file"
    case .badPublicKey: return "not a valid public key"
    case .wrongKeyType: return "wrong key type"
    case .rejected: return "rejected by the peer"
    }
  }

  public var description: String {
    switch self {
    case .notSealed: return "input is not a sealed file"
    case .unsupported(let what): return "unsupported \(what)"
    case .truncated: return "input is truncated: the final frame is missing"
    case .badLength(let length): return "frame length out of range (\(length)): corrupted or tampered with"
    case .corrupted: return "frame corrupted in transit (crc32 mismatch)"
    case .authenticationFailed(let what): return "authentication failed: \(what)"
    case .outOfOrder(let expected, let received):
      return "frame out of order (expected \(expected), got \(received)): replayed, reordered or dropped"
    case .trailingData: return "data after the final frame"
    case .malformed(let what): return "malformed input: \(what)"
    case .invalidKeyFile(let what): return "invalid key file: \(what)"
    case .badPublicKey(let why): return "not a valid public key: \(why)"
    case .wrongKeyType(let why): return "wrong key type: \(why)"
    case .rejected:
      return "rejected by the peer: its sc-handshake sent the abort after this side accepted the handshake"
    }
  }
}
