{
  "targets": [
    {
      "target_name": "digits_native",
      "sources": [
        "src/addon.cc",
        "src/common.cc",
        "src/conv.cc",
        "src/conv1ch.cc",
        "src/pool.cc",
        "src/avgpool.cc",
        "src/dense.cc",
        "src/bnorm.cc",
        "src/eltwise.cc",
        "src/softmax_ce.cc",
        "src/optim.cc",
        "src/dropout.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_CPP_EXCEPTIONS"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-O2"],
      "cflags_cc": ["-std=c++17", "-O3", "-fopenmp", "<!@(node cpu-flags.js)"],
      "ldflags": ["-fopenmp"],
      "libraries": ["-ldnnl"]
    }
  ]
}
