{
  "targets": [
    {
      "target_name": "tvault_native",
      "sources": ["src/tvault_native.c", "src/agent_dial.c", "src/secretbox_rows.c"],
      "cflags": ["-Wall", "-Wextra", "-Werror=implicit-function-declaration", "-O2"],
      "conditions": [["OS=='linux'", {"libraries": ["-lutil", "-ldl"]}]]
    },
    {
      "target_name": "tvault_front",
      "type": "executable",
      "sources": ["src/front.c", "src/agent_dial.c"],
      "cflags": ["-Wall", "-Wextra", "-Werror=implicit-function-declaration", "-O2"]
    }
  ]
}
