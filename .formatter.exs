[
  inputs: ["{mix,.formatter}.exs", "{config,lib,test,bench,scripts}/**/*.{ex,exs}"],
  locals_without_parens: [field: 2, field: 3, pad: 1, attr: 3, attr: 4]
]
