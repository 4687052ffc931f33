{
  "targets": [
    {
      "target_name": "tvault_native",
      "sources": ["src/tvault_native.c", "src/secretbox_rows.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"],
      "conditions": [["OS=='linux'", {"libraries": ["-lutil", "-ldl"]}]]
    }
  ]
}
