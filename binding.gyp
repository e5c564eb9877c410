{
  "targets": [
    {
      "target_name": "fastpath",
      "sources": ["native/fastpath.c", "native/crc32.c"],
      "cflags": ["-O3", "-std=c11"]
    }
  ]
}
