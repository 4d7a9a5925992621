defmodule Linx.Docs.ProcessDocsTest do
  # Every example of docs/process/*.md, run in order. Everything they create
  # (namespaces, links) belongs to workloads linked to this test, which end with it.
  use ExUnit.Case, async: false

  @moduletag :root

  use Linx.Test.DocExamples, area: "process"
end
