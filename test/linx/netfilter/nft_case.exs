defmodule Linx.Test.NftCase do
  @moduledoc false
  # Helpers for the nf_tables tests: a private netns with an nfnetlink socket in it,
  # and the `nft` CLI (the oracle) run inside that netns.

  import ExUnit.Callbacks, only: [on_exit: 1]

  alias Linx.Test.Sandbox

  @doc "A fresh netns and an nfnetlink socket opened in it (closed on exit)."
  def sandbox!(tag \\ "nft") do
    ns = Sandbox.netns!(tag: tag)
    {:ok, sock} = Linx.Netlink.Nfnl.open({:path, ns.path})
    on_exit(fn -> Linx.Netlink.Socket.close(sock) end)
    %{ns: ns, sock: sock}
  end

  @doc "Runs `nft ARGS` inside the netns; raises on failure."
  def nft!(ns, args), do: Sandbox.cmd!("ip", ["netns", "exec", ns.name, "nft" | args])

  @doc "Runs `nft ARGS`; `{output, status}`."
  def nft(ns, args),
    do: System.cmd("ip", ["netns", "exec", ns.name, "nft" | args], stderr_to_stdout: true)

  @doc "`nft list ruleset`, trailing whitespace trimmed."
  def listing(ns), do: ns |> nft!(["list", "ruleset"]) |> String.trim_trailing()

  @doc "`nft -j list ruleset` decoded, without the metainfo entry and handles."
  def json(ns) do
    {:ok, %{"nftables" => items}} =
      Linx.NativeBuild.JSON.decode(nft!(ns, ["-j", "list", "ruleset"]))

    items |> Enum.reject(&Map.has_key?(&1, "metainfo")) |> Enum.map(&drop_handles/1)
  end

  defp drop_handles(%{} = m),
    do: m |> Map.drop(["handle", "expires"]) |> Map.new(fn {k, v} -> {k, drop_handles(v)} end)

  defp drop_handles(l) when is_list(l), do: Enum.map(l, &drop_handles/1)
  defp drop_handles(v), do: v

  @doc "Loads nft syntax with `nft -f` inside the netns."
  def load!(ns, text) do
    path = Path.join(System.tmp_dir!(), "linx-nft-#{System.unique_integer([:positive])}.nft")
    File.write!(path, text)

    try do
      nft!(ns, ["-f", path])
    after
      File.rm(path)
    end
  end
end
