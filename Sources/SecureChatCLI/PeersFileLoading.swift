import SecureChatCrypto
import SecureChatProtocol

#if canImport(Glibc)
  import Glibc
#endif

/// Reads the peers file of docs/FORMATS.md §10 with the rules of key files (a regular file
/// readable by group or others is refused with a hint; a fifo only as /dev/fd/N), and the key
/// file of each entry through KeyLoader.
public enum PeersFileLoader {
  /// `${XDG_CONFIG_HOME:-$HOME/.config}/securechat/peers` (an XDG_CONFIG_HOME that is not an
  /// absolute path is ignored, as the XDG Base Directory specification says); nil without HOME.
  public static func defaultPath(environment: [String: String]) -> String? {
    if let config = environment["XDG_CONFIG_HOME"], config.hasPrefix("/") {
      return config + "/securechat/peers"
    }
    guard let home = environment["HOME"], !home.isEmpty else { return nil }
    return home + "/.config/securechat/peers"
  }

  static let formatHint = "each line is: PEER HOST PORT KEYFILE NAME (HOST and PORT '-' for a peer that only connects)"

  /// The entries of the peers file at `path`.
  public static func load(_ path: String) throws -> [PeersFile.Entry] {
    let (buffer, count) = try SecretFileReader.read(path, maxSize: PeersFile.maxSize, what: "peers file")
    let bytes = buffer.withUnsafeBytes { Array($0[0..<count]) }
    do {
      return try PeersFile.parse(bytes, location: path)
    } catch let error as PeersFileError {
      var hints: [String] = []
      switch error.kind {
      case .notAPeersFile: hints = ["a peers file begins with the line: securechat-peers-v1"]
      case .fieldCount: hints = [formatHint]
      case .duplicateKeyFile: hints = ["make a key for each peer with: sc-keygen -o KEYFILE"]
      case .tooManyEntries:
        hints = [
          "keep at most \(PeersFile.maxEntries) peers in one file; a listener on another port can take another"
        ]
      default: break
      }
      throw ToolError("peers file \(path): \(error.description)", hints: hints)
    }
  }

  /// The pre-shared key of every entry, in order. Two entries whose keys are the same (a copied
  /// key file, a link) are refused: the key would not tell which of them connected (§10.3).
  public static func loadKeys(_ entries: [PeersFile.Entry], peersFile path: String) throws -> [KeyFile.Key] {
    var keys: [KeyFile.Key] = []
    var byFingerprint: [String: PeersFile.Entry] = [:]
    for entry in entries {
      let key: KeyFile.Key
      do {
        key = try KeyLoader.load(entry.keyPath, expecting: .psk)
      } catch let error as ToolError {
        throw ToolError(
          error.message, hints: ["the key file of peer '\(entry.peer)' (\(path) line \(entry.line))"] + error.hints,
          status: error.status)
      }
      // The fingerprint is a hash of the key: equal fingerprints, equal keys.
      let fingerprint = key.fingerprint
      if let other = byFingerprint[fingerprint] {
        throw ToolError(
          "peers file \(path): peers '\(other.peer)' (line \(other.line)) and '\(entry.peer)' (line \(entry.line))"
            + " have the same key, which would not tell them apart",
          hints: ["make a key for each peer with: sc-keygen -o KEYFILE"])
      }
      byFingerprint[fingerprint] = entry
      keys.append(key)
    }
    return keys
  }
}
