{
  "targets": [
    {
      "target_name": "mtgate_ige",
      "sources": ["native/ige.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-O3", "-Wall", "-Wextra"],
      "cflags_c": ["-std=c11"],
      "xcode_settings": {
        "OTHER_CFLAGS": ["-O3", "-Wall", "-Wextra"]
      }
    }
  ]
}
