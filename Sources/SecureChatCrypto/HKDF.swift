import COpenSSL

/// HKDF-SHA256 (RFC 5869) from OpenSSL's EVP_KDF.
public enum HKDFSHA256 {
  public enum Mode: Int32 {
    case extractAndExpand = 0  // EVP_KDF_HKDF_MODE_EXTRACT_AND_EXPAND
    case extractOnly = 1  // EVP_KDF_HKDF_MODE_EXTRACT_ONLY
    case expandOnly = 2  // EVP_KDF_HKDF_MODE_EXPAND_ONLY
  }

  /// Derives `outputCount` bytes. In `.expandOnly` mode `inputKeyMaterial` is the PRK and
  /// `salt` is ignored; in `.extractOnly` mode the output is the 32-byte PRK.
  public static func derive(
    inputKeyMaterial: SecretBytes, salt: [UInt8], info: [UInt8], outputCount: Int,
    mode: Mode = .extractAndExpand
  ) throws -> SecretBytes {
    guard let context = EVP_KDF_CTX_new(OpenSSLAlgorithms.hkdf) else { throw CryptoFailure("EVP_KDF_CTX_new") }
    defer { EVP_KDF_CTX_free(context) }
    let output = SecretBytes(count: outputCount)
    var modeValue = mode.rawValue
    // OpenSSL rejects a NULL pointer for an empty salt or info; one spare byte keeps them valid.
    var saltBytes = salt + [0]
    var infoBytes = info + [0]
    let result = inputKeyMaterial.withUnsafeBytes { ikm -> Int32 in
      saltBytes.withUnsafeMutableBytes { s in
        infoBytes.withUnsafeMutableBytes { i in
          var params = [
            OSSL_PARAM_construct_utf8_string(OpenSSLNames.paramKDFDigest, OpenSSLNames.sha256, 0),
            OSSL_PARAM_construct_int(OpenSSLNames.paramKDFMode, &modeValue),
            OSSL_PARAM_construct_octet_string(
              OpenSSLNames.paramKDFKey, UnsafeMutableRawPointer(mutating: ikm.baseAddress), ikm.count),
            OSSL_PARAM_construct_octet_string(OpenSSLNames.paramKDFSalt, s.baseAddress, salt.count),
            OSSL_PARAM_construct_octet_string(OpenSSLNames.paramKDFInfo, i.baseAddress, info.count),
            OSSL_PARAM_construct_end(),
          ]
          if mode == .expandOnly {
            params.remove(at: 3)
          }
          return output.withUnsafeMutableBytes { out in
            EVP_KDF_derive(context, out.baseAddress!.assumingMemoryBound(to: UInt8.self), outputCount, &params)
          }
        }
      }
    }
    guard result == 1 else { throw CryptoFailure("EVP_KDF_derive") }
    return output
  }
}
