defmodule Linx.Docs.NetfilterDocsTest do
  # Every example of docs/netfilter/*.md, run in order in a scratch network namespace
  # (never the host's ruleset).
  use ExUnit.Case, async: false

  @moduletag :root
  @moduletag :iproute2

  use Linx.Test.DocExamples, area: "netfilter", scratch_netns: true
end
