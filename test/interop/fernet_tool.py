"""Independent checks with Python's `cryptography` package (the reference Fernet implementation).

usage (the password comes from the SFT_PASSWORD environment variable):
  fernet_tool.py derive SALT_HEX ITERATIONS        -> Fernet key
  fernet_tool.py encrypt KEY DATA_HEX              -> token
  fernet_tool.py decrypt KEY TOKEN                 -> plaintext hex
  fernet_tool.py decrypt-file PATH OUT             -> decrypts an sft fernet file token by token, prints its sha-256
"""
import base64, hashlib, os, struct, sys
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

MAGIC = b"SFT-FERNET/1\n"


def derive(salt: bytes, iterations: int) -> bytes:
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt, iterations=iterations)
    return base64.urlsafe_b64encode(kdf.derive(os.environ["SFT_PASSWORD"].encode()))


def decrypt_file(path: str, out: str) -> str:
    with open(path, "rb") as f, open(out, "wb") as w:
        header = f.read(len(MAGIC) + 20)
        assert header[: len(MAGIC)] == MAGIC, "magic"
        (iterations,) = struct.unpack(">I", header[len(MAGIC) : len(MAGIC) + 4])
        fernet = Fernet(derive(header[len(MAGIC) + 4 :], iterations))
        digest, length, index = hashlib.sha256(), 0, 0
        while True:
            (n,) = struct.unpack(">I", f.read(4))
            plain = fernet.decrypt(f.read(n))
            kind, (i,) = plain[0], struct.unpack(">Q", plain[1:9])
            assert i == index, "order"
            if kind == 1:
                assert plain[9:41] == digest.digest(), "sha-256"
                assert struct.unpack(">Q", plain[41:49])[0] == length, "length"
                assert f.read(1) == b"", "trailing data"
                return digest.hexdigest()
            digest.update(plain[9:])
            w.write(plain[9:])
            length += len(plain) - 9
            index += 1


cmd = sys.argv[1]
if cmd == "derive":
    print(derive(bytes.fromhex(sys.argv[2]), int(sys.argv[3])).decode())
elif cmd == "encrypt":
    print(Fernet(sys.argv[2].encode()).encrypt(bytes.fromhex(sys.argv[3])).decode())
elif cmd == "decrypt":
    print(Fernet(sys.argv[2].encode()).decrypt(sys.argv[3].encode()).hex())
elif cmd == "decrypt-file":
    print(decrypt_file(sys.argv[2], sys.argv[3]))
