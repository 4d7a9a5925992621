defmodule Linx.Test.HostGuard do
  @moduledoc """
  Snapshots the host state tests must never change — the root netns's links,
  addresses, routes and rules, the nftables ruleset, a set of network sysctls, the mount
  table — and, after the suite, compares and looks for leftover `linx-test-` network
  namespaces and cgroups. Any difference fails the run (see `test_helper.exs`).
  """

  @sysctls ~w(
    net/ipv4/ip_forward net/ipv6/conf/all/forwarding net/core/rmem_max net/core/wmem_max
    net/ipv4/conf/all/rp_filter net/ipv4/ping_group_range net/ipv6/conf/all/disable_ipv6
  )

  @spec snapshot() :: map()
  def snapshot do
    %{
      links: ip(~w(-j link show)) |> strip_volatile(),
      addresses: ip(~w(-j addr show)) |> strip_volatile(),
      routes: ip(~w(-j route show table all)),
      rules: ip(~w(-j rule show)) <> ip(~w(-6 -j rule show)),
      nft: cmd("nft", ["list", "ruleset"]),
      sysctls: Map.new(@sysctls, &{&1, File.read("/proc/sys/" <> &1)}),
      mounts: mounts()
    }
  end

  @spec leftovers() :: [String.t()]
  def leftovers do
    netns =
      case File.ls("/run/netns") do
        {:ok, names} ->
          for n <- names, ours_or_orphaned?(n), do: "netns " <> n

        _ ->
          []
      end

    cgroups =
      case Linx.Test.Sandbox.cgroup2_mount() do
        nil ->
          []

        root ->
          for dir <- Path.wildcard(Path.join(root, "**/#{Linx.Test.Sandbox.prefix()}*")),
              ours_or_orphaned?(Path.basename(dir)),
              do: "cgroup " <> dir
      end

    netns ++ cgroups
  end

  # Sandbox names end in `<os pid>-<n>`. Another suite running at the same time (a second
  # worktree) owns the names carrying its live pid; ours and those of dead runs are leaks.
  defp ours_or_orphaned?(name) do
    with true <- String.starts_with?(name, Linx.Test.Sandbox.prefix()),
         [_, pid] <- Regex.run(~r/(\d+)-\d+$/, name) do
      pid == System.pid() or not File.exists?("/proc/#{pid}")
    else
      false -> false
      nil -> true
    end
  end

  @doc "What changed in one snapshot entry: removed and added lines."
  @spec describe(atom(), term(), term()) :: map()
  def describe(_key, before, now) when is_list(before) and is_list(now),
    do: %{removed: before -- now, added: now -- before}

  def describe(_key, before, now) when is_binary(before) and is_binary(now) do
    b = String.split(before, "\n")
    n = String.split(now, "\n")
    %{removed: b -- n, added: n -- b}
  end

  def describe(_key, before, now), do: %{before: before, now: now}

  @spec diff(map(), map()) :: [atom()]
  def diff(before, now), do: for({k, v} <- before, Map.get(now, k) != v, do: k)

  defp ip(args), do: cmd("ip", args)

  defp cmd(cmd, args) do
    case System.find_executable(cmd) && System.cmd(cmd, args, stderr_to_stdout: true) do
      {out, _} -> out
      nil -> "#{cmd} not installed"
    end
  end

  # Counters and timers move on their own; what tests could change is kept.
  defp strip_volatile(json) do
    json
    |> String.replace(~r/"(valid_life_time|preferred_life_time)":\d+/, "")
    |> String.replace(~r/"operstate":"[A-Z]+"/, "")
  end

  defp mounts do
    "/proc/self/mountinfo"
    |> File.read!()
    |> String.split("\n", trim: true)
    |> Enum.map(fn line -> line |> String.split(" ") |> Enum.slice(3, 3) |> Enum.join(" ") end)
    # Netns bind mounts come and go with concurrent suites and benchmarks; leftovers()
    # covers the sandbox ones of this run.
    |> Enum.reject(&String.contains?(&1, "/run/netns/"))
    |> Enum.sort()
  end
end
