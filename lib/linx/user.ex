defmodule Linx.User do
  @moduledoc """
  User-namespace id maps: `/proc/<pid>/uid_map`, `gid_map` and `setgroups` of a process
  in a new user namespace (see user_namespaces(7)), written from the host while the
  process is parked at the `Linx.Process` checkpoint.

      # In a BEAM running as uid 1000, gid 1000: the workload is root inside.
      {:ok, s} = Linx.Process.spawn(argv: ["/usr/bin/id"], namespaces: [:user])
      host_pid = receive do {:linx_process, :ready, pid} -> pid end
      :ok = Linx.User.setup_maps(host_pid, uid: [{0, 1000, 1}], gid: [{0, 1000, 1}])
      {:ok, [%Linx.User.Map{inside: 0, outside: 1000, length: 1}]} =
        Linx.User.read_uid_map(host_pid)
      :ok = Linx.Process.proceed(s)

  A mapping is `{inside, outside, length}`: ids `inside ..` of the namespace are ids
  `outside ..` of its parent. Ids are unsigned 32-bit numbers. Writing a map does not
  change the workload's credentials (it keeps the BEAM's uid and gid): map those to 0
  for a workload that is root inside, leave them out for one that is not.

  ## The kernel's rules, checked before anything is written

  The kernel accepts a map only once and only whole, so a refused write cannot be
  retried with a correction. Every rule below is therefore checked *before* the write,
  and a violation leaves the files untouched:

    * a map has 1 to 340 lines (Linux 4.15+), is written in a single `write(2)` smaller
      than a page, and no two lines overlap, neither inside nor outside
      (`{:error, {:bad_map, reason}}`);
    * each map can be written once per namespace (a second write is refused with
      `%Linx.User.Error{errno: :eperm}` and a `:detail` saying so);
    * a writer without `CAP_SETUID` (`CAP_SETGID` for `gid_map`) may only map one id,
      its own effective uid (gid), with length 1, and for `gid_map` only after
      `setgroups` was set to `"deny"`;
    * `setgroups` can be denied only before `gid_map` is written.

  The privilege checks assume, as `Linx.Process` arranges, that the target's user
  namespace was created from the BEAM's own. Anything else the kernel refuses comes
  back as `{:error, %Linx.User.Error{}}` with its errno (`:enoent` for a dead pid).

  Caller mistakes (a pid that is not a positive integer, an unknown option) raise
  `ArgumentError` naming the value.
  """

  import Bitwise

  alias Linx.User.{Error, Map}

  @typedoc "A process in the BEAM's pid namespace (e.g. `Linx.Process.host_pid/1`)."
  @type pid_target :: pos_integer()

  @typedoc "`{inside, outside, length}`: `length` ids from `inside` map to ids from `outside`."
  @type mapping :: {non_neg_integer(), non_neg_integer(), pos_integer()}

  @type bad_map_reason ::
          :empty
          | :not_a_list
          | {:bad_entry, term()}
          | {:overlap, mapping(), mapping()}
          | {:too_many_lines, pos_integer()}
          | {:too_long, pos_integer()}

  # user_namespaces(7): "Since Linux 4.15, the limit is 340 lines" (UID_GID_MAP_MAX_EXTENTS
  # in the kernel's include/linux/user_namespace.h).
  @max_lines 340
  # Ids are u32; (u32)-1 is the invalid id and no range may reach it (kernel/user_namespace.c
  # refuses first == -1 and ranges whose end wraps).
  @max_id 0xFFFF_FFFF
  # linux/capability.h
  @cap_setgid 6
  @cap_setuid 7
  # linux/auxvec.h
  @at_pagesz 6

  @doc "Whether this kernel has user namespaces (`/proc/self/uid_map` exists)."
  @spec supported?() :: boolean()
  def supported?, do: File.exists?("/proc/self/uid_map")

  @doc """
  Writes `"deny"` to `/proc/<pid>/setgroups`, which forbids setgroups(2) in the
  namespace for good and is what an unprivileged `gid_map` needs first.

  Returns `:ok` (also when it already says `"deny"`), or `{:error, %Linx.User.Error{}}`:
  `:eperm` with a detail once `gid_map` was written (the kernel no longer lets
  setgroups be denied then), `:enoent` for a dead pid.
  """
  @spec deny_setgroups(pid_target()) :: :ok | {:error, Error.t()}
  def deny_setgroups(pid) do
    check_pid!(pid)

    with {:ok, current} <- read_setgroups(pid, :deny_setgroups) do
      case current do
        :deny ->
          :ok

        :allow ->
          with {:ok, []} <- read_map(pid, "gid_map", :deny_setgroups),
               :ok <- write(path(pid, "setgroups"), "deny", :deny_setgroups) do
            :ok
          else
            {:ok, [_ | _]} ->
              {:error,
               Error.from_posix(
                 :eperm,
                 path(pid, "setgroups"),
                 :deny_setgroups,
                 "gid_map is already written; setgroups can only be denied before it"
               )}

            error ->
              error
          end
      end
    end
  end

  @doc """
  Reads `/proc/<pid>/setgroups`: `{:ok, :allow}` or `{:ok, :deny}`, or
  `{:error, %Linx.User.Error{operation: :read_setgroups}}`.
  """
  @spec read_setgroups(pid_target()) :: {:ok, :allow | :deny} | {:error, Error.t()}
  def read_setgroups(pid) do
    check_pid!(pid)
    read_setgroups(pid, :read_setgroups)
  end

  defp read_setgroups(pid, operation) do
    file = path(pid, "setgroups")

    case File.read(file) do
      {:ok, "allow" <> _} ->
        {:ok, :allow}

      {:ok, "deny" <> _} ->
        {:ok, :deny}

      {:ok, other} ->
        {:error, Error.from_posix(:eio, file, operation, "unexpected #{inspect(other)}")}

      {:error, errno} ->
        {:error, Error.from_posix(errno, file, operation)}
    end
  end

  @doc """
  Writes `/proc/<pid>/uid_map` with `mappings` (a list of `{inside, outside, length}`),
  in one write, after checking every rule listed in the moduledoc.

  Returns `:ok`, `{:error, {:bad_map, reason}}` (`:empty`, `:not_a_list`,
  `{:bad_entry, entry}`, `{:overlap, a, b}`, `{:too_many_lines, n}`, `{:too_long, bytes}`)
  or `{:error, %Linx.User.Error{operation: :set_uid_map}}`.
  """
  @spec set_uid_map(pid_target(), [mapping()]) ::
          :ok | {:error, {:bad_map, bad_map_reason()} | Error.t()}
  def set_uid_map(pid, mappings) do
    check_pid!(pid)

    with {:ok, blob} <- validate_map(mappings),
         :ok <- precheck(pid, :uid, mappings, :current) do
      write(path(pid, "uid_map"), blob, :set_uid_map)
    end
  end

  @doc """
  Writes `/proc/<pid>/gid_map`; the same rules and returns as `set_uid_map/2` (operation
  `:set_gid_map`), plus: without `CAP_SETGID`, `setgroups` must already say `"deny"`
  (`deny_setgroups/1`).
  """
  @spec set_gid_map(pid_target(), [mapping()]) ::
          :ok | {:error, {:bad_map, bad_map_reason()} | Error.t()}
  def set_gid_map(pid, mappings) do
    check_pid!(pid)

    with {:ok, blob} <- validate_map(mappings),
         :ok <- precheck(pid, :gid, mappings, :current) do
      write(path(pid, "gid_map"), blob, :set_gid_map)
    end
  end

  @doc """
  Reads and parses `/proc/<pid>/uid_map`: `{:ok, [%Linx.User.Map{}]}` (`[]` while it is
  not written yet) or `{:error, %Linx.User.Error{operation: :read_uid_map}}`. The
  `outside` ids are as the BEAM's user namespace sees them.
  """
  @spec read_uid_map(pid_target()) :: {:ok, [Map.t()]} | {:error, Error.t()}
  def read_uid_map(pid) do
    check_pid!(pid)
    read_map(pid, "uid_map", :read_uid_map)
  end

  @doc "Like `read_uid_map/1` for `/proc/<pid>/gid_map` (operation `:read_gid_map`)."
  @spec read_gid_map(pid_target()) :: {:ok, [Map.t()]} | {:error, Error.t()}
  def read_gid_map(pid) do
    check_pid!(pid)
    read_map(pid, "gid_map", :read_gid_map)
  end

  @doc """
  The usual sequence in one call: `setgroups` to `"deny"` (unless `setgroups: :skip`),
  then `uid_map`, then `gid_map`.

  Options: `:uid` and `:gid` (required, mapping lists) and `:setgroups` (`:deny`, the
  default, or `:skip`). Both maps and the namespace's state are checked before the first
  write, so a bad `gid` list leaves `setgroups` and `uid_map` untouched too. A kernel
  failure after a write has landed cannot be rolled back (maps are write-once).

  Returns `:ok`, `{:error, {:bad_setup, {:missing, key}}}`,
  `{:error, {:bad_setgroups, value}}`, or the errors of the three steps. An unknown
  option raises `ArgumentError`.
  """
  @spec setup_maps(pid_target(), keyword()) ::
          :ok
          | {:error,
             {:bad_setup, {:missing, :uid | :gid}}
             | {:bad_setgroups, term()}
             | {:bad_map, bad_map_reason()}
             | Error.t()}
  def setup_maps(pid, opts) do
    check_pid!(pid)
    check_opts!(opts)

    with {:ok, uid} <- fetch_setup(opts, :uid),
         {:ok, gid} <- fetch_setup(opts, :gid),
         {:ok, setgroups} <- fetch_setgroups(opts),
         {:ok, uid_blob} <- validate_map(uid),
         {:ok, gid_blob} <- validate_map(gid),
         :ok <- precheck(pid, :uid, uid, :current),
         :ok <- precheck(pid, :gid, gid, if(setgroups == :deny, do: :deny, else: :current)),
         :ok <- if(setgroups == :deny, do: deny_setgroups(pid), else: :ok),
         :ok <- write(path(pid, "uid_map"), uid_blob, :set_uid_map) do
      write(path(pid, "gid_map"), gid_blob, :set_gid_map)
    end
  end

  defp check_opts!(opts) do
    unless is_list(opts) and Enum.all?(opts, &match?({k, _} when is_atom(k), &1)) do
      raise ArgumentError, "expected a keyword list of options, got: #{inspect(opts)}"
    end

    case Keyword.keys(opts) -- [:uid, :gid, :setgroups] do
      [] ->
        :ok

      [key | _] ->
        raise ArgumentError, "unknown option #{inspect(key)} for Linx.User.setup_maps/2"
    end
  end

  defp fetch_setup(opts, key) do
    case Keyword.fetch(opts, key) do
      {:ok, mappings} -> {:ok, mappings}
      :error -> {:error, {:bad_setup, {:missing, key}}}
    end
  end

  defp fetch_setgroups(opts) do
    case Keyword.get(opts, :setgroups, :deny) do
      v when v in [:deny, :skip] -> {:ok, v}
      other -> {:error, {:bad_setgroups, other}}
    end
  end

  @doc false
  # Parses a uid_map/gid_map text: one `inside outside length` triple per line; lines
  # that are not three integers with a positive length are dropped.
  @spec parse_map(binary()) :: [Map.t()]
  def parse_map(text) when is_binary(text) do
    for line <- String.split(text, "\n"),
        [i, o, l] <- [String.split(line)],
        {i, ""} <- [Integer.parse(i)],
        {o, ""} <- [Integer.parse(o)],
        {l, ""} <- [Integer.parse(l)],
        i >= 0 and o >= 0 and l > 0,
        do: %Map{inside: i, outside: o, length: l}
  end

  @doc false
  # The pure part of the rules: shape, ranges, overlaps, line count and size. Returns the
  # text to write.
  @spec validate_map(term()) :: {:ok, binary()} | {:error, {:bad_map, bad_map_reason()}}
  def validate_map([]), do: {:error, {:bad_map, :empty}}

  def validate_map(mappings) when is_list(mappings) do
    with :ok <- check_entries(mappings),
         :ok <- check_count(mappings),
         :ok <- check_overlaps(mappings) do
      blob = Enum.map_join(mappings, fn {i, o, l} -> "#{i} #{o} #{l}\n" end)

      # The kernel takes the whole map in one write of less than a page.
      if byte_size(blob) < page_size(),
        do: {:ok, blob},
        else: {:error, {:bad_map, {:too_long, byte_size(blob)}}}
    end
  end

  def validate_map(_other), do: {:error, {:bad_map, :not_a_list}}

  defp check_entries(mappings) do
    case Enum.find(mappings, &(not valid_entry?(&1))) do
      nil -> :ok
      bad -> {:error, {:bad_map, {:bad_entry, bad}}}
    end
  end

  defp valid_entry?({i, o, l})
       when is_integer(i) and is_integer(o) and is_integer(l) and i >= 0 and o >= 0 and l > 0,
       do: i + l <= @max_id and o + l <= @max_id

  defp valid_entry?(_), do: false

  defp check_count(mappings) do
    case length(mappings) do
      n when n > @max_lines -> {:error, {:bad_map, {:too_many_lines, n}}}
      _ -> :ok
    end
  end

  # Neither the inside ranges nor the outside ranges may intersect (the kernel's
  # mappings_overlap()). Sorting by start makes it one pass per side.
  defp check_overlaps(mappings) do
    with :ok <- overlap_pass(Enum.sort_by(mappings, &elem(&1, 0)), 0),
         :ok <- overlap_pass(Enum.sort_by(mappings, &elem(&1, 1)), 1),
         do: :ok
  end

  defp overlap_pass([a, b | rest], side) do
    if elem(a, side) + elem(a, 2) > elem(b, side),
      do: {:error, {:bad_map, {:overlap, a, b}}},
      else: overlap_pass([b | rest], side)
  end

  defp overlap_pass(_, _side), do: :ok

  # The rules that depend on the namespace's state and on the writer's privilege.
  # `setgroups` is what it will be at write time (:deny when setup_maps denies it first).
  defp precheck(pid, kind, mappings, setgroups) do
    {file, operation} =
      case kind do
        :uid -> {"uid_map", :set_uid_map}
        :gid -> {"gid_map", :set_gid_map}
      end

    refuse = fn detail ->
      {:error, Error.from_posix(:eperm, path(pid, file), operation, detail)}
    end

    with {:ok, current} <- read_map(pid, file, operation),
         {:ok, setgroups} <- current_setgroups(pid, kind, setgroups, operation) do
      state = %{written?: current != [], setgroups: setgroups}

      case check_rules(kind, mappings, writer(), state) do
        :ok -> :ok
        {:error, detail} -> refuse.(detail)
      end
    end
  end

  @doc false
  # The kernel's write-time rules for a valid map (kernel/user_namespace.c, map_write()
  # and new_idmap_permitted()), as a pure function so tests can hold its predictions
  # against the kernel's answers for writers Linx itself is not.
  #   writer: %{euid:, egid:, cap_eff:}; state: %{written?:, setgroups: :allow | :deny}
  @spec check_rules(:uid | :gid, [mapping()], map(), map()) :: :ok | {:error, String.t()}
  def check_rules(kind, mappings, writer, state) do
    file = if kind == :uid, do: "uid_map", else: "gid_map"

    {cap, cap_name, own} =
      if kind == :uid,
        do: {@cap_setuid, "CAP_SETUID", writer.euid},
        else: {@cap_setgid, "CAP_SETGID", writer.egid}

    cond do
      state.written? ->
        {:error, "#{file} is already written; a map can be written once per namespace"}

      (writer.cap_eff &&& 1 <<< cap) != 0 ->
        :ok

      not match?([{_, ^own, 1}], mappings) ->
        {:error,
         "without #{cap_name} only one line mapping the writer's own #{kind} (#{own}) " <>
           "with length 1 is allowed"}

      kind == :gid and state.setgroups != :deny ->
        {:error,
         "without CAP_SETGID, setgroups must be \"deny\" before gid_map is written " <>
           "(call deny_setgroups/1 first)"}

      true ->
        :ok
    end
  end

  defp current_setgroups(_pid, :uid, _setgroups, _operation), do: {:ok, :allow}
  defp current_setgroups(_pid, :gid, :deny, _operation), do: {:ok, :deny}
  defp current_setgroups(pid, :gid, :current, operation), do: read_setgroups(pid, operation)

  # The BEAM's effective ids and effective capabilities: the writer the kernel checks.
  defp writer do
    status = File.read!("/proc/self/status")
    [_, euid] = Regex.run(~r/^Uid:\s+\d+\s+(\d+)/m, status)
    [_, egid] = Regex.run(~r/^Gid:\s+\d+\s+(\d+)/m, status)
    [_, eff] = Regex.run(~r/^CapEff:\s+([0-9a-f]+)/m, status)

    %{
      euid: String.to_integer(euid),
      egid: String.to_integer(egid),
      cap_eff: String.to_integer(eff, 16)
    }
  end

  defp read_map(pid, file, operation) do
    full = path(pid, file)

    case File.read(full) do
      {:ok, text} -> {:ok, parse_map(text)}
      {:error, errno} -> {:error, Error.from_posix(errno, full, operation)}
    end
  end

  defp write(file, blob, operation) do
    case File.write(file, blob) do
      :ok -> :ok
      {:error, errno} -> {:error, Error.from_posix(errno, file, operation)}
    end
  end

  defp path(pid, file), do: "/proc/#{pid}/#{file}"

  defp check_pid!(pid) when is_integer(pid) and pid > 0, do: :ok

  defp check_pid!(pid),
    do: raise(ArgumentError, "expected a host pid (a positive integer), got: #{inspect(pid)}")

  # The kernel's page size, from the BEAM's auxiliary vector (AT_PAGESZ); cached.
  defp page_size do
    case :persistent_term.get({__MODULE__, :page_size}, nil) do
      nil ->
        size = read_page_size()
        :persistent_term.put({__MODULE__, :page_size}, size)
        size

      size ->
        size
    end
  end

  defp read_page_size do
    bits = :erlang.system_info(:wordsize) * 8

    with {:ok, auxv} <- File.read("/proc/self/auxv"),
         size when is_integer(size) <- find_auxv(auxv, bits) do
      size
    else
      _ -> 4096
    end
  end

  defp find_auxv(auxv, bits) do
    case auxv do
      <<@at_pagesz::native-size(bits), v::native-size(bits), _::binary>> -> v
      <<_::native-size(bits), _::native-size(bits), rest::binary>> -> find_auxv(rest, bits)
      _ -> nil
    end
  end
end
