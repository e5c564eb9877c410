{
  "targets": [
    {
      "target_name": "fastpath",
      "sources": ["native/fastpath.c"],
      "cflags": ["-O3", "-std=c11"]
    }
  ]
}
