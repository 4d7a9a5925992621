defmodule Linx.Docs.TtyDocsTest do
  # Every example of docs/tty/*.md, run in order. They need no privileges and no
  # terminal: they make their own ptys.
  use ExUnit.Case, async: false

  use Linx.Test.DocExamples, area: "tty"
end
