defmodule Linx.Docs.NetlinkDocsTest do
  # Every example of docs/netlink/*.md, run in order in a scratch network namespace.
  use ExUnit.Case, async: false

  @moduletag :root
  @moduletag :iproute2

  use Linx.Test.DocExamples, area: "netlink", scratch_netns: true
end
