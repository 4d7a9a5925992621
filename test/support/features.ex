defmodule Linx.Test.Features do
  @moduledoc """
  What this machine can do, for ExUnit tag exclusion. Each check returns `:ok` or
  `{:missing, reason}`; `test_helper.exs` excludes the tag and prints the reason.

  Tags:
    * `:root` — CAP_SYS_ADMIN and CAP_NET_ADMIN (creating namespaces, links)
    * `:iproute2` — the `ip` binary (the oracle)
    * `:nftables` — the `nft` binary (the nf_tables oracle)
    * `:cgroup2` — a writable cgroup2 mount
    * `:mix_install` — a second `elixir`/`mix` run (dependency tests; slow)
  """

  import Bitwise

  @cap_net_admin 12
  @cap_sys_admin 21

  @spec checks() :: [{atom(), (-> :ok | {:missing, String.t()})}]
  def checks do
    [
      root: &root/0,
      iproute2: &iproute2/0,
      nftables: &nftables/0,
      cgroup2: &cgroup2/0
    ]
  end

  def root do
    case effective_caps() do
      {:ok, caps} ->
        missing =
          for {name, bit} <- [cap_sys_admin: @cap_sys_admin, cap_net_admin: @cap_net_admin],
              (caps &&& 1 <<< bit) == 0,
              do: name

        if missing == [],
          do: :ok,
          else: {:missing, "needs #{Enum.join(missing, " and ")} (run as root)"}

      :error ->
        {:missing, "cannot read CapEff from /proc/self/status"}
    end
  end

  def iproute2 do
    if System.find_executable("ip"), do: :ok, else: {:missing, "iproute2's `ip` is not installed"}
  end

  def nftables do
    if System.find_executable("nft"),
      do: :ok,
      else: {:missing, "nftables' `nft` is not installed"}
  end

  def cgroup2 do
    case Linx.Test.Sandbox.cgroup2_mount() do
      nil ->
        {:missing, "no cgroup2 mount in /proc/self/mountinfo"}

      path ->
        if File.exists?(Path.join(path, "cgroup.procs")),
          do: :ok,
          else: {:missing, "#{path} has no cgroup.procs"}
    end
  end

  defp effective_caps do
    with {:ok, status} <- File.read("/proc/self/status"),
         [_, hex] <- Regex.run(~r/^CapEff:\s+([0-9a-f]+)$/m, status) do
      {:ok, String.to_integer(hex, 16)}
    else
      _ -> :error
    end
  end
end
