defmodule Linx.Test.Sandbox do
  @moduledoc """
  Private kernel objects for tests, always removed afterwards.

    * `netns!/1` creates a network namespace named `linx-test-<unique>` with
      `ip netns add` and registers its removal in `on_exit` (which runs even when the
      test fails). Returns `%{name: ..., path: "/run/netns/..."}`.
    * `cgroup!/1` creates `linx-test-<unique>` under the cgroup2 mount found in
      `/proc/self/mountinfo` (never assumed to be `/sys/fs/cgroup`) and removes it on
      exit, after moving any process left in it back to the parent.
    * `ip!/2` runs `ip -n NS ...` and raises with its output on failure; `ip_json!/2`
      parses `ip -j` output with the project's JSON reader.

  Nothing here touches the host's own namespace, ruleset, sysctls, mounts or cgroups.
  """

  import ExUnit.Callbacks, only: [on_exit: 1]

  @prefix "linx-test-"

  @doc "The prefix every sandbox object name starts with."
  @spec prefix() :: String.t()
  def prefix, do: @prefix

  @doc "A unique name with the sandbox prefix."
  @spec unique_name(String.t()) :: String.t()
  def unique_name(tag \\ "") do
    n = :erlang.unique_integer([:positive])
    "#{@prefix}#{tag}#{System.pid()}-#{n}"
  end

  @doc "Creates a private network namespace, removed when the test exits."
  @spec netns!(keyword()) :: %{name: String.t(), path: String.t()}
  def netns!(opts \\ []) do
    name = unique_name(Keyword.get(opts, :tag, ""))
    _ = cmd!("ip", ["netns", "add", name])
    on_exit(fn -> System.cmd("ip", ["netns", "delete", name], stderr_to_stdout: true) end)
    _ = if Keyword.get(opts, :lo_up, true), do: ip!(name, ~w(link set lo up))
    %{name: name, path: "/run/netns/#{name}"}
  end

  @doc "Runs `ip -n NETNS args...`; raises on failure, returns stdout."
  @spec ip!(String.t(), [String.t()]) :: String.t()
  def ip!(netns, args), do: cmd!("ip", ["-n", netns | args])

  @doc "Runs `ip -j -n NETNS args...` and decodes the JSON."
  @spec ip_json!(String.t(), [String.t()]) :: term()
  def ip_json!(netns, args) do
    {:ok, value} = Linx.NativeBuild.JSON.decode(ip!(netns, ["-j" | args]))
    value
  end

  @doc "Runs a command; raises with its output on a non-zero exit."
  @spec cmd!(String.t(), [String.t()]) :: String.t()
  def cmd!(cmd, args) do
    case System.cmd(cmd, args, stderr_to_stdout: true) do
      {out, 0} -> out
      {out, status} -> raise "#{cmd} #{Enum.join(args, " ")} exited #{status}: #{out}"
    end
  end

  @doc "The cgroup2 mount point from `/proc/self/mountinfo`, or nil."
  @spec cgroup2_mount() :: String.t() | nil
  def cgroup2_mount do
    with {:ok, text} <- File.read("/proc/self/mountinfo") do
      text
      |> String.split("\n", trim: true)
      |> Enum.find_value(fn line ->
        # fields: id parent major:minor root mountpoint opts [optional...] - fstype src opts
        case String.split(line, " - ") do
          [pre, "cgroup2 " <> _] -> pre |> String.split(" ") |> Enum.at(4) |> unescape_mount()
          _ -> nil
        end
      end)
    else
      _ -> nil
    end
  end

  defp unescape_mount(path) do
    Regex.replace(~r/\\([0-7]{3})/, path, fn _, oct -> <<String.to_integer(oct, 8)>> end)
  end

  @doc "Creates a private cgroup under the cgroup2 mount, removed when the test exits."
  @spec cgroup!(keyword()) :: String.t()
  def cgroup!(opts \\ []) do
    root = cgroup2_mount() || raise "no cgroup2 mount in /proc/self/mountinfo"
    path = Path.join(root, unique_name(Keyword.get(opts, :tag, "")))
    File.mkdir!(path)
    on_exit(fn -> remove_cgroup(path, root) end)
    path
  end

  @doc false
  def remove_cgroup(path, root) do
    case File.ls(path) do
      {:ok, entries} ->
        # Children first; any process still inside goes back to the root before rmdir.
        for child <- entries,
            File.dir?(Path.join(path, child)),
            do: :ok = remove_cgroup(Path.join(path, child), root)

        _ =
          with {:ok, procs} <- File.read(Path.join(path, "cgroup.procs")) do
            for pid <- String.split(procs, "\n", trim: true),
                do: File.write(Path.join(root, "cgroup.procs"), pid)
          end

        _ = File.rmdir(path)
        :ok

      {:error, :enoent} ->
        :ok
    end
  end

  @doc "The open file descriptors of this BEAM (`/proc/self/fd`)."
  @spec open_fds() :: [non_neg_integer()]
  def open_fds do
    "/proc/self/fd" |> File.ls!() |> Enum.map(&String.to_integer/1) |> Enum.sort()
  end

  @doc "The netns link of every thread of this BEAM (`/proc/self/task/*/ns/net`)."
  @spec thread_netns() :: %{String.t() => String.t()}
  def thread_netns do
    for tid <- File.ls!("/proc/self/task"), into: %{} do
      case File.read_link("/proc/self/task/#{tid}/ns/net") do
        {:ok, link} -> {tid, link}
        {:error, _} -> {tid, :gone}
      end
    end
  end
end
